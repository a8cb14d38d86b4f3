//! The branding logo: a small PNG, JPEG or GIF file, read and checked once when the delivery is
//! built, embedded in every message as an inline part (no remote image).

use std::path::Path;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, SinglePart};

use keepnet_sink::SinkError;

use crate::{LOGO_CONTENT_ID, MAX_LOGO_BYTES};

/// The image formats a logo may be in: what every mail program shows inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImageKind {
    Png,
    Jpeg,
    Gif,
}

impl ImageKind {
    /// The format the first bytes announce.
    pub(crate) fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Self::Gif)
        } else {
            None
        }
    }

    fn media_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Gif => "gif",
        }
    }
}

/// A checked logo, in memory.
#[derive(Debug, Clone)]
pub(crate) struct Logo {
    bytes: Vec<u8>,
    kind: ImageKind,
}

fn invalid(message: String) -> SinkError {
    SinkError::Invalid(message)
}

impl Logo {
    /// Reads `path` and checks it: a regular file of at most [`MAX_LOGO_BYTES`] whose first
    /// bytes are those of a PNG, JPEG or GIF image.
    pub(crate) fn load(path: &Path) -> Result<Self, SinkError> {
        let shown = path.display();
        let meta = std::fs::metadata(path).map_err(|e| {
            invalid(format!(
                "cannot read the e-mail logo {shown}: {e}; give an existing PNG, JPEG or GIF file"
            ))
        })?;
        if !meta.is_file() {
            return Err(invalid(format!(
                "the e-mail logo {shown} is not a file; give a PNG, JPEG or GIF file"
            )));
        }
        let limit = MAX_LOGO_BYTES;
        if meta.len() > limit {
            return Err(invalid(format!(
                "the e-mail logo {shown} is {}, over the logo limit of {} ({limit} bytes): it would be sent with every message. Use a smaller image (a logo of about 200x60 pixels is a few KiB)",
                crate::compose::human_size(meta.len()),
                crate::compose::human_size(limit),
            )));
        }
        // Bounded: the file could have grown since it was measured.
        let bytes = keepnet_sink::read_regular_file(path, limit).map_err(|e| {
            invalid(format!(
                "cannot read the e-mail logo {shown}: {e}; give a readable PNG, JPEG or GIF file of at most {}",
                crate::compose::human_size(limit)
            ))
        })?;
        let kind = ImageKind::sniff(&bytes).ok_or_else(|| {
            invalid(format!(
                "the e-mail logo {shown} is not a PNG, JPEG or GIF image (its first bytes are not those of any of them); give the logo in one of these formats"
            ))
        })?;
        Ok(Self { bytes, kind })
    }

    /// The inline part: `Content-ID: <logo@keepnet-export>`, `Content-Disposition: inline`,
    /// base64 bytes.
    pub(crate) fn part(&self) -> SinglePart {
        let content_type =
            ContentType::parse(self.kind.media_type()).expect("a valid image media type");
        Attachment::new_inline_with_name(LOGO_CONTENT_ID.to_owned(), self.file_name())
            .body(self.bytes.clone(), content_type)
    }

    /// `logo.png`, `logo.jpg` or `logo.gif`.
    fn file_name(&self) -> String {
        format!("logo.{}", self.kind.extension())
    }

    /// The logo as a file of its own.
    pub(crate) fn file(&self) -> crate::LogoFile {
        crate::LogoFile {
            file_name: self.file_name(),
            bytes: self.bytes.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_three_formats_only() {
        assert_eq!(
            ImageKind::sniff(b"\x89PNG\r\n\x1a\n...."),
            Some(ImageKind::Png)
        );
        assert_eq!(
            ImageKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(ImageKind::Jpeg)
        );
        assert_eq!(ImageKind::sniff(b"GIF89a.."), Some(ImageKind::Gif));
        assert_eq!(ImageKind::sniff(b"GIF87a.."), Some(ImageKind::Gif));
        for not in [&b""[..], b"\x89PNG", b"<svg xmlns=", b"BM....", b"GIF88a"] {
            assert_eq!(ImageKind::sniff(not), None, "{not:?}");
        }
    }
}
