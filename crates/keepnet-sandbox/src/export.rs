//! CSV and XLSX files of target users.

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Workbook};

use crate::data::User;
use crate::time;

/// Column headers of both export formats.
pub(crate) const HEADERS: [&str; 8] = [
    "First Name",
    "Last Name",
    "Email",
    "Phone Number",
    "Department",
    "Priority",
    "Status",
    "Create Time",
];

fn row(u: &User) -> [&str; 8] {
    [
        u.first_name.as_deref().unwrap_or(""),
        u.last_name.as_deref().unwrap_or(""),
        u.email.as_deref().unwrap_or(""),
        u.phone_number.as_deref().unwrap_or(""),
        u.department.as_deref().unwrap_or(""),
        u.priority.as_deref().unwrap_or(""),
        u.status.as_deref().unwrap_or(""),
        &u.create_time,
    ]
}

/// RFC 4180 CSV (CRLF line ends, quotes only where needed).
pub(crate) fn csv_bytes<U: AsRef<User>>(users: impl Iterator<Item = U>) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(HEADERS).expect("write to memory");
    for u in users {
        w.write_record(row(u.as_ref())).expect("write to memory");
    }
    w.into_inner().expect("flush to memory")
}

/// An .xlsx workbook with one sheet of text cells. `stamp_ms` fixes the
/// document creation time so the bytes are reproducible.
pub(crate) fn xlsx_bytes<U: AsRef<User>>(
    users: impl Iterator<Item = U>,
    stamp_ms: i64,
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut wb = Workbook::new();
    let p = time::parts(stamp_ms);
    let when = ExcelDateTime::from_ymd(p.year as u16, p.month as u8, p.day as u8)?.and_hms(
        p.hour as u16,
        p.minute as u8,
        p.second as f64,
    )?;
    wb.set_properties(&DocProperties::new().set_creation_datetime(&when));
    let sheet = wb.add_worksheet();
    sheet.set_name("Target Users")?;
    for (col, h) in HEADERS.iter().enumerate() {
        sheet.write_string(0, col as u16, *h)?;
    }
    for (r, u) in users.enumerate() {
        for (col, v) in row(u.as_ref()).iter().enumerate() {
            if !v.is_empty() {
                sheet.write_string(r as u32 + 1, col as u16, *v)?;
            }
        }
    }
    wb.save_to_buffer()
}

/// Content-Disposition with an ASCII fallback name and the real UTF-8 name.
pub(crate) fn content_disposition(file_name: &str) -> String {
    let fallback: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in file_name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_has_both_names() {
        assert_eq!(
            content_disposition("TargetUsers_Acme Türkiye_20240101.csv"),
            "attachment; filename=\"TargetUsers_Acme T_rkiye_20240101.csv\"; \
             filename*=UTF-8''TargetUsers_Acme%20T%C3%BCrkiye_20240101.csv"
        );
    }
}
