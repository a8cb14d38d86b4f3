#!/usr/bin/env python3
"""Export one Keepnet customer's target users to users.csv and users.xlsx.

The script a reseller would write for keepnet-export's job (requests, csv, XlsxWriter), kept
plain on purpose: `cargo xtask bench` runs it on the Rust client's sandbox and reports the
ratio of their wall times (xtask/src/peer.rs). Needs: pip install requests XlsxWriter

    KEEPNET_BASE_URL=... KEEPNET_CLIENT_ID=... KEEPNET_CLIENT_SECRET=... \\
    python3 keepnet_peer.py --company NAME [--threads N] [--out-dir DIR]

--threads 1 (default) fetches the pages one after another; --threads N fetches page 1, then
the others N at a time, written in page order. Prints `users=N` to stderr at the end.
"""

import argparse
import concurrent.futures
import csv
import os
import sys
import threading

import requests
import xlsxwriter

# keepnet-export's default columns: (API field, header label).
COLUMNS = [
    ("email", "Email"),
    ("firstName", "First Name"),
    ("lastName", "Last Name"),
    ("department", "Department"),
    ("phoneNumber", "Phone Number"),
    ("priority", "Priority"),
    ("status", "Status"),
    ("isDeleted", "Deleted"),
    ("managerFullName", "Manager"),
    ("managerEmail", "Manager Email"),
    ("managerFirstName", "Manager First Name"),
    ("managerLastName", "Manager Last Name"),
    ("customFieldValues", "Custom Fields"),
    ("createTime", "Created"),
    ("updateTime", "Updated"),
    ("timeZone", "Time Zone"),
    ("preferredLanguage", "Preferred Language"),
    ("isEditable", "Editable"),
    ("scimSettingName", "SCIM Setting"),
    ("ldapConfigName", "LDAP Configuration"),
    ("resourceId", "Resource ID"),
]
# Keepnet's docs: never send an empty filter. This one matches every user, deleted included.
FILTER = {"Condition": "AND", "SearchInputTextValue": ""}
BASE_URL = os.environ["KEEPNET_BASE_URL"].rstrip("/")
local = threading.local()


def session():
    """One requests.Session per thread (a Session is not meant to be shared by threads)."""
    if not hasattr(local, "session"):
        local.session = requests.Session()
    return local.session


def get_token():
    form = {
        "grant_type": "client_credentials",
        "client_id": os.environ["KEEPNET_CLIENT_ID"],
        "client_secret": os.environ["KEEPNET_CLIENT_SECRET"],
        "scope": "api1",
    }
    response = session().post(f"{BASE_URL}/connect/token", data=form, timeout=60)
    response.raise_for_status()
    return response.json()["access_token"]


def search(path, token, page, page_size, company_id=None):
    """One page of a search endpoint: the envelope's `data`."""
    headers = {"Authorization": f"Bearer {token}"}
    if company_id:
        headers["X-KEEPNET-Company-Id"] = company_id
    body = {"pageNumber": page, "pageSize": page_size, "orderBy": "CreateTime",
            "ascending": True, "filter": FILTER}
    response = session().post(BASE_URL + path, json=body, headers=headers, timeout=60)
    response.raise_for_status()
    payload = response.json()
    if payload.get("status") != "SUCCESS":
        raise RuntimeError(f"{path} page {page}: {payload.get('status')} {payload.get('message')}")
    return payload["data"]


def find_in(companies, name):
    """The resource id of the company called `name`, nested children included."""
    for company in companies:
        if (company.get("name") or company.get("companyName")) == name:
            return company.get("resourceId") or company.get("companyResourceId")
        found = find_in(company.get("children") or [], name)
        if found:
            return found
    return None


def find_company(token, name):
    page = 1
    while True:
        data = search("/api/companies/search", token, page, 50)
        found = find_in(data["results"], name)
        if found:
            return found
        if page >= data["totalNumberOfPages"]:
            sys.exit(f"no company named {name!r}")
        page += 1


def cell(user, field):
    value = user.get(field)
    if value is None:
        return ""
    if field == "customFieldValues":  # date fields carry their value in timestampValue
        return "; ".join(f"{f['name']}: {f.get('value') or f.get('timestampValue') or ''}"
                         for f in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--company", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out-dir", default=".")
    args = parser.parse_args()

    token = get_token()
    company_id = find_company(token, args.company)
    first = search("/api/target-users/search", token, 1, 1000, company_id)
    page_size, pages = first["pageSize"], first["totalNumberOfPages"]  # the server may cap

    def fetch(page):
        return search("/api/target-users/search", token, page, page_size, company_id)["results"]

    os.makedirs(args.out_dir, exist_ok=True)
    workbook = xlsxwriter.Workbook(os.path.join(args.out_dir, "users.xlsx"))
    sheet = workbook.add_worksheet("Users")
    count = 0
    with open(os.path.join(args.out_dir, "users.csv"), "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        header = [label for _, label in COLUMNS]
        writer.writerow(header)
        sheet.write_row(0, 0, header)

        def write(users):
            nonlocal count
            for user in users:
                row = [cell(user, field) for field, _ in COLUMNS]
                writer.writerow(row)
                count += 1
                sheet.write_row(count, 0, row)

        write(first["results"])
        if args.threads > 1:
            with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
                for users in pool.map(fetch, range(2, pages + 1)):  # in page order
                    write(users)
        else:
            for page in range(2, pages + 1):
                write(fetch(page))
    workbook.close()
    print(f"users={count}", file=sys.stderr)


if __name__ == "__main__":
    main()
