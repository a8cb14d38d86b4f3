"""moto in server mode for the S3 tests, on 127.0.0.1 only, driven over stdin/stdout.

Usage: s3_server.py [--auth]

Listens on a port the system picks (bound here, never released: no other process can take it
between choosing and binding). Prints `READY PORT {json}` once the server answers; the JSON holds the IAM users made with --auth
(`admin`, `writer`, `denied`: id and secret). Then reads one JSON command per line on stdin and
answers one JSON line on stdout. Stops when stdin closes (the test process ended or dropped it).

--auth: before READY, creates the users (admin: everything; writer: s3:*; denied: s3:* but
s3:PutObject denied) and then switches moto's IAM checks on (as POST /moto-api/reset-auth 0 would), so
every later request must be signed by one of them and is checked against its policy.
"""

import argparse
import hashlib
import json
import sys

import boto3
from botocore.config import Config
from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.server import ThreadedMotoServer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--auth", action="store_true")
    args = parser.parse_args()

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    endpoint = f"http://127.0.0.1:{port}"
    creds = {"id": "testing", "secret": "testing"}

    def client(service, c):
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=c["id"],
            aws_secret_access_key=c["secret"],
            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
        )

    users = {}
    if args.auth:
        iam = client("iam", creds)
        allow_all = {"Effect": "Allow", "Action": "*", "Resource": "*"}
        allow_s3 = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
        deny_put = {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"}
        for name, statements in [
            ("admin", [allow_all]),
            ("writer", [allow_s3]),
            ("denied", [allow_s3, deny_put]),
        ]:
            iam.create_user(UserName=name)
            iam.put_user_policy(
                UserName=name,
                PolicyName=f"{name}-policy",
                PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
            )
            key = iam.create_access_key(UserName=name)["AccessKey"]
            users[name] = {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
        # The server runs in this process: switch its IAM checks on as /moto-api/reset-auth does.
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        ActionAuthenticatorMixin.request_count = 0
        creds = users["admin"]

    s3 = client("s3", creds)

    def handle(cmd):
        op = cmd["op"]
        if op == "create_bucket":
            s3.create_bucket(Bucket=cmd["bucket"])
            return {}
        if op == "head":
            try:
                answer = s3.head_object(Bucket=cmd["bucket"], Key=cmd["key"])
            except s3.exceptions.ClientError as e:
                if e.response["Error"]["Code"] in ("404", "NoSuchKey"):
                    return {"found": False}
                raise
            return {"found": True, "headers": answer["ResponseMetadata"]["HTTPHeaders"]}
        if op == "get":
            answer = s3.get_object(Bucket=cmd["bucket"], Key=cmd["key"])
            body = answer["Body"].read()
            out = {
                "size": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
                "headers": answer["ResponseMetadata"]["HTTPHeaders"],
            }
            if len(body) <= 1024 * 1024:
                out["hex"] = body.hex()
            return out
        if op == "keys":
            pages = s3.get_paginator("list_objects_v2").paginate(
                Bucket=cmd["bucket"], Prefix=cmd.get("prefix", "")
            )
            return {"keys": [o["Key"] for page in pages for o in page.get("Contents", [])]}
        if op == "uploads":
            answer = s3.list_multipart_uploads(Bucket=cmd["bucket"])
            return {"keys": [u["Key"] for u in answer.get("Uploads", [])]}
        raise ValueError(f"unknown op {op!r}")

    print("READY %d %s" % (port, json.dumps(users)), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = {"ok": True, **handle(json.loads(line))}
        except Exception as e:  # the test shows it
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)
    server.stop()


if __name__ == "__main__":
    main()
