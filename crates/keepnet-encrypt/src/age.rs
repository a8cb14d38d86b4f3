//! The age v1 file format (<https://age-encryption.org/v1>, C2SP), encryption only, to X25519
//! recipients only, on ring's primitives (X25519, HKDF-SHA-256, HMAC-SHA-256,
//! ChaCha20-Poly1305), which the TLS stack already links. The `age` crate did the same job
//! with 60 more crates (its localisation stack among them); this module is the part of the
//! format this tool writes, and the real `age` CLI decrypts it in the tests.
//!
//! A file is: the header (`age-encryption.org/v1`, one `-> X25519` stanza per recipient
//! wrapping a random 16-byte file key, `--- ` and the header's MAC), a random 16-byte nonce,
//! then the payload in 64 KiB chunks, each sealed with a key derived from the file key and
//! that nonce, under a 12-byte nonce of an 11-byte big-endian counter and a last-chunk flag.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use ring::agreement::{agree_ephemeral, EphemeralPrivateKey, UnparsedPublicKey, X25519};
use ring::hkdf::{Salt, HKDF_SHA256};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// The format's first line.
const VERSION_LINE: &str = "age-encryption.org/v1";

/// The HKDF `info` of an X25519 stanza's wrapping key.
const X25519_INFO: &[u8] = b"age-encryption.org/v1/X25519";

/// Plaintext bytes per payload chunk.
const CHUNK: usize = 64 * 1024;

/// Bytes of the Poly1305 tag after each sealed chunk.
const TAG: usize = 16;

/// The Bech32 human-readable part of an X25519 recipient.
const HRP: &str = "age";

/// The Bech32 alphabet.
const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// An age X25519 recipient: a public key written `age1` and 58 Bech32 characters, as
/// `age-keygen` prints it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AgeRecipient {
    key: [u8; 32],
}

/// Why text is not an age X25519 recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientError(&'static str);

impl fmt::Display for RecipientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for RecipientError {}

impl FromStr for AgeRecipient {
    type Err = RecipientError;

    /// Parses `age1…`: Bech32 (BIP 173) with the part `age`, a valid checksum and 32 bytes of
    /// key, in one case throughout; a key X25519 cannot agree with (a low-order point) is
    /// refused here rather than when the first file is written.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (hrp, data) = bech32_decode(text)?;
        if hrp != HRP {
            return Err(RecipientError("not an age1 key"));
        }
        let key: [u8; 32] = data
            .try_into()
            .map_err(|_| RecipientError("the key is not 32 bytes long"))?;
        let recipient = Self { key };
        recipient
            .wrap(&SystemRandom::new(), &[0; 16])
            .map_err(|_| RecipientError("not a usable X25519 public key"))?;
        Ok(recipient)
    }
}

impl fmt::Display for AgeRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bech32_encode(HRP, &self.key))
    }
}

impl fmt::Debug for AgeRecipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgeRecipient({self})")
    }
}

/// A primitive failed: the system's random source, or an agreement with a key that was
/// checked when parsed. Nothing secret in it.
#[derive(Debug)]
pub(crate) struct CryptoError(&'static str);

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl AgeRecipient {
    /// This recipient's stanza for `file_key`: `-> X25519 SHARE` and the wrapped key, each
    /// line ending in `\n`.
    fn wrap(&self, rng: &SystemRandom, file_key: &[u8; 16]) -> Result<String, CryptoError> {
        let ephemeral = EphemeralPrivateKey::generate(&X25519, rng)
            .map_err(|_| CryptoError("the system random source failed"))?;
        let share = ephemeral
            .compute_public_key()
            .map_err(|_| CryptoError("X25519 failed"))?;
        let peer = UnparsedPublicKey::new(&X25519, self.key);
        // ring refuses an all-zero shared secret, as age requires.
        let shared = agree_ephemeral(ephemeral, &peer, |secret| {
            let mut out = [0u8; 32];
            out.copy_from_slice(secret);
            out
        })
        .map_err(|_| CryptoError("X25519 agreement with the recipient failed"))?;
        let mut salt = Vec::with_capacity(64);
        salt.extend_from_slice(share.as_ref());
        salt.extend_from_slice(&self.key);
        let wrap_key = hkdf(&salt, &shared, X25519_INFO)?;
        let mut body = file_key.to_vec();
        seal(&wrap_key, [0; 12], &mut body)?;
        let mut stanza = format!("-> X25519 {}\n", STANDARD_NO_PAD.encode(share.as_ref()));
        push_wrapped(&mut stanza, &STANDARD_NO_PAD.encode(&body));
        Ok(stanza)
    }
}

/// Appends a stanza body's Base64 in lines of 64 characters; the last line is always shorter
/// (empty when the Base64 fills its lines), which is how a reader knows the body ended.
fn push_wrapped(out: &mut String, base64: &str) {
    let mut rest = base64;
    while rest.len() >= 64 {
        out.push_str(&rest[..64]);
        out.push('\n');
        rest = &rest[64..];
    }
    out.push_str(rest);
    out.push('\n');
}

/// HKDF-SHA-256 of `ikm` under `salt` and `info`, 32 bytes.
fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8]) -> Result<[u8; 32], CryptoError> {
    let mut out = [0u8; 32];
    Salt::new(HKDF_SHA256, salt)
        .extract(ikm)
        .expand(&[info], HKDF_SHA256)
        .and_then(|okm| okm.fill(&mut out))
        .map_err(|_| CryptoError("HKDF failed"))?;
    Ok(out)
}

/// Seals `data` in place with ChaCha20-Poly1305 under `key` and `nonce`, appending the tag.
fn seal(key: &[u8; 32], nonce: [u8; 12], data: &mut Vec<u8>) -> Result<(), CryptoError> {
    let key = UnboundKey::new(&CHACHA20_POLY1305, key)
        .map_err(|_| CryptoError("ChaCha20-Poly1305 key setup failed"))?;
    LessSafeKey::new(key)
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), data)
        .map_err(|_| CryptoError("ChaCha20-Poly1305 failed"))
}

/// Streams the age encryption of what is written to it into `out`: the header and nonce at
/// once, then each 64 KiB chunk as it fills. [`AgeWriter::finish`] seals the last chunk;
/// without it the output is not a valid age file (a reader refuses it as truncated).
pub(crate) struct AgeWriter<W: Write> {
    out: W,
    key: LessSafeKey,
    /// Chunks sealed so far: the counter of the next one.
    counter: u64,
    /// The chunk being filled; held back when full until more data shows it is not the last.
    chunk: Vec<u8>,
}

/// An [`AgeWriter`] could not start.
#[derive(Debug)]
pub(crate) enum StartError {
    /// A primitive failed.
    Crypto(CryptoError),
    /// Writing the header failed.
    Io(io::Error),
}

impl<W: Write> AgeWriter<W> {
    /// Writes the header (one stanza per recipient) and the payload nonce to `out`.
    pub(crate) fn new(mut out: W, recipients: &[AgeRecipient]) -> Result<Self, StartError> {
        let rng = SystemRandom::new();
        let random = |buf: &mut [u8]| {
            rng.fill(buf)
                .map_err(|_| StartError::Crypto(CryptoError("the system random source failed")))
        };
        let mut file_key = [0u8; 16];
        random(&mut file_key)?;
        let mut header = format!("{VERSION_LINE}\n");
        for recipient in recipients {
            header.push_str(
                &recipient
                    .wrap(&rng, &file_key)
                    .map_err(StartError::Crypto)?,
            );
        }
        header.push_str("---");
        let mac_key = hkdf(&[], &file_key, b"header").map_err(StartError::Crypto)?;
        let mac = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &mac_key),
            header.as_bytes(),
        );
        header.push(' ');
        header.push_str(&STANDARD_NO_PAD.encode(mac.as_ref()));
        header.push('\n');

        let mut nonce = [0u8; 16];
        random(&mut nonce)?;
        let payload_key = hkdf(&nonce, &file_key, b"payload").map_err(StartError::Crypto)?;
        out.write_all(header.as_bytes()).map_err(StartError::Io)?;
        out.write_all(&nonce).map_err(StartError::Io)?;
        let key = UnboundKey::new(&CHACHA20_POLY1305, &payload_key)
            .map_err(|_| StartError::Crypto(CryptoError("ChaCha20-Poly1305 key setup failed")))?;
        Ok(Self {
            out,
            key: LessSafeKey::new(key),
            counter: 0,
            chunk: Vec::with_capacity(CHUNK + TAG),
        })
    }

    /// Seals and writes the chunk held, as the last one or not.
    fn flush_chunk(&mut self, last: bool) -> io::Result<()> {
        let mut nonce = [0u8; 12];
        nonce[3..11].copy_from_slice(&self.counter.to_be_bytes());
        nonce[11] = u8::from(last);
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut self.chunk,
            )
            .map_err(|_| io::Error::other("ChaCha20-Poly1305 failed"))?;
        self.out.write_all(&self.chunk)?;
        self.chunk.clear();
        self.counter += 1;
        Ok(())
    }

    /// Seals the last chunk (empty only when nothing was written at all) and returns the
    /// output, flushed.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.flush_chunk(true)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for AgeWriter<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let given = buf.len();
        while !buf.is_empty() {
            if self.chunk.len() == CHUNK {
                // More data follows a full chunk: it is not the last.
                self.flush_chunk(false)?;
            }
            let take = (CHUNK - self.chunk.len()).min(buf.len());
            self.chunk.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
        }
        Ok(given)
    }

    /// Flushes the output; the chunk being filled stays until it is full or finished.
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// BIP 173's checksum over `values`.
fn polymod(values: impl IntoIterator<Item = u8>) -> u32 {
    const GENERATOR: [u32; 5] = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
    let mut check: u32 = 1;
    for value in values {
        let top = check >> 25;
        check = ((check & 0x1ff_ffff) << 5) ^ u32::from(value);
        for (i, g) in GENERATOR.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                check ^= g;
            }
        }
    }
    check
}

/// The human-readable part expanded for the checksum.
fn hrp_expand(hrp: &str) -> impl Iterator<Item = u8> + '_ {
    hrp.bytes()
        .map(|c| c >> 5)
        .chain(std::iter::once(0))
        .chain(hrp.bytes().map(|c| c & 31))
}

/// Bech32 of `data` under `hrp`, lower case.
fn bech32_encode(hrp: &str, data: &[u8]) -> String {
    let mut groups = Vec::with_capacity(data.len() * 8 / 5 + 7);
    let (mut acc, mut bits) = (0u32, 0u32);
    for byte in data {
        acc = (acc << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            groups.push(((acc >> bits) & 31) as u8);
        }
    }
    if bits > 0 {
        groups.push(((acc << (5 - bits)) & 31) as u8);
    }
    let check = polymod(hrp_expand(hrp).chain(groups.iter().copied()).chain([0; 6])) ^ 1;
    groups.extend((0..6).map(|i| ((check >> (5 * (5 - i))) & 31) as u8));
    let mut out = String::with_capacity(hrp.len() + 1 + groups.len());
    out.push_str(hrp);
    out.push('1');
    out.extend(groups.iter().map(|g| char::from(CHARSET[usize::from(*g)])));
    out
}

/// The human-readable part (lower case) and the data bytes of Bech32 `text`, its checksum
/// verified.
fn bech32_decode(text: &str) -> Result<(String, Vec<u8>), RecipientError> {
    if !text.is_ascii() {
        return Err(RecipientError("not a Bech32 string (non-ASCII characters)"));
    }
    let has_lower = text.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = text.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper {
        return Err(RecipientError("mixed upper and lower case"));
    }
    let text = text.to_ascii_lowercase();
    let Some(at) = text.rfind('1') else {
        return Err(RecipientError("not a Bech32 string (no separator)"));
    };
    let (hrp, rest) = (&text[..at], &text[at + 1..]);
    if hrp.is_empty() || rest.len() < 6 {
        return Err(RecipientError("too short"));
    }
    let groups = rest
        .bytes()
        .map(|c| CHARSET.iter().position(|&x| x == c).map(|p| p as u8))
        .collect::<Option<Vec<u8>>>()
        .ok_or(RecipientError("a character outside the Bech32 alphabet"))?;
    if polymod(hrp_expand(hrp).chain(groups.iter().copied())) != 1 {
        return Err(RecipientError("invalid checksum (a typo?)"));
    }
    let groups = &groups[..groups.len() - 6];
    let mut data = Vec::with_capacity(groups.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for group in groups {
        acc = ((acc << 5) | u32::from(*group)) & 0xfff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            data.push(((acc >> bits) & 0xff) as u8);
        }
    }
    if bits >= 5 || (acc & ((1 << bits) - 1)) != 0 {
        return Err(RecipientError("invalid padding"));
    }
    Ok((hrp.to_owned(), data))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    #[test]
    fn recipient_round_trips_and_checks_its_checksum() {
        let recipient: AgeRecipient = KEY.parse().unwrap();
        assert_eq!(recipient.to_string(), KEY);
        assert_eq!(
            KEY.to_ascii_uppercase()
                .parse::<AgeRecipient>()
                .unwrap()
                .to_string(),
            KEY
        );
        // One character changed: the checksum catches it.
        let typo = KEY.replacen("ql3z", "ql4z", 1);
        assert_eq!(
            typo.parse::<AgeRecipient>().unwrap_err().to_string(),
            "invalid checksum (a typo?)"
        );
        let mixed = format!("A{}", &KEY[1..]);
        assert!(mixed.parse::<AgeRecipient>().is_err());
        assert!("age1".parse::<AgeRecipient>().is_err());
        assert!("agé1qqqqqq".parse::<AgeRecipient>().is_err());
    }

    #[test]
    fn a_key_of_the_wrong_length_or_part_is_refused() {
        assert_eq!(
            bech32_encode("age", &[7; 31])
                .parse::<AgeRecipient>()
                .unwrap_err()
                .to_string(),
            "the key is not 32 bytes long"
        );
        assert_eq!(
            bech32_encode("agf", &[7; 32])
                .parse::<AgeRecipient>()
                .unwrap_err()
                .to_string(),
            "not an age1 key"
        );
        // The all-zero point agrees to an all-zero secret: refused when parsed.
        assert_eq!(
            bech32_encode("age", &[0; 32])
                .parse::<AgeRecipient>()
                .unwrap_err()
                .to_string(),
            "not a usable X25519 public key"
        );
    }

    /// BIP 173's own valid test vectors decode.
    #[test]
    fn bip173_vectors() {
        for valid in [
            "A12UEL5L",
            "a12uel5l",
            "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
            "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
        ] {
            bech32_decode(valid).unwrap_or_else(|e| panic!("{valid}: {e}"));
        }
        for invalid in [
            "pzry9x0s0muk",
            "1pzry9x0s0muk",
            "x1b4n0q5v",
            "li1dgmt3",
            "A1G7SGD8",
        ] {
            assert!(bech32_decode(invalid).is_err(), "{invalid}");
        }
    }

    #[test]
    fn header_shape_and_chunk_sizes() {
        let recipients: Vec<AgeRecipient> = vec![KEY.parse().unwrap()];
        for (len, chunks) in [(0, 1), (1, 1), (CHUNK, 1), (CHUNK + 1, 2), (3 * CHUNK, 3)] {
            let mut writer = AgeWriter::new(Vec::new(), &recipients).unwrap();
            writer.write_all(&vec![b'x'; len]).unwrap();
            let out = writer.finish().unwrap();
            let text = String::from_utf8_lossy(&out);
            let mut lines = text.lines();
            assert_eq!(lines.next(), Some(VERSION_LINE));
            let stanza = lines.next().unwrap();
            assert!(stanza.starts_with("-> X25519 ") && stanza.len() == 10 + 43);
            assert_eq!(lines.next().unwrap().len(), 43, "the wrapped key: 32 bytes");
            let mac = lines.next().unwrap();
            assert!(mac.starts_with("--- ") && mac.len() == 4 + 43);
            let header_len = text.find("\n--- ").unwrap() + 1 + mac.len() + 1;
            assert_eq!(
                out.len() - header_len,
                16 + len + chunks * TAG,
                "{len} bytes in {chunks} chunk(s)"
            );
        }
    }

    #[test]
    fn stanza_bodies_wrap_at_64_with_a_short_last_line() {
        let mut out = String::new();
        push_wrapped(&mut out, &"a".repeat(128));
        assert_eq!(out, format!("{}\n{}\n\n", "a".repeat(64), "a".repeat(64)));
        let mut out = String::new();
        push_wrapped(&mut out, &"b".repeat(43));
        assert_eq!(out, format!("{}\n", "b".repeat(43)));
    }
}
