//! Writes the summary e-mail of a fixed sample report as HTML, for `cargo xtask render-email`,
//! which screenshots it in a browser and checks the chart.
//!
//! Usage: `sample_summary DIR`. `DIR/logo.png` must exist (the logo, embedded by Content-ID in
//! a real message, is referenced as the file beside the HTML). Writes `DIR/summary.html` and
//! two small sample CSVs, and prints on stdout, as JSON, what the picture must show:
//! `{"barColour": "#rrggbb", "barWidth": px, "monthly": [["2026-05", 12], ...]}`.
//! The HTML comes from [`EmailDelivery::preview`], the code that builds what is sent.

use std::path::{Path, PathBuf};

use keepnet_sink::{Artifact, Changes, ExportInfo, Figures, Report, Timestamp};
use keepnet_sink_email::{
    EmailDelivery, MailSettings, SmtpSettings, SmtpTls, BAR_COLOUR, BAR_WIDTH, LOGO_CONTENT_ID,
};

/// The sample's users added per month, oldest first: a large, a small, a zero month.
const MONTHLY: [(&str, u64); 6] = [
    ("2026-05", 12),
    ("2026-06", 30),
    ("2026-07", 1),
    ("2026-08", 0),
    ("2026-09", 18),
    ("2026-10", 40),
];

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let dir: PathBuf = match std::env::args_os().nth(1) {
        Some(dir) => dir.into(),
        None => return Err("usage: sample_summary DIR (DIR/logo.png must exist)".into()),
    };
    let html = sample_html(&dir)?;
    std::fs::write(dir.join("summary.html"), html)?;
    let monthly: Vec<serde_json::Value> = MONTHLY
        .iter()
        .map(|(month, n)| serde_json::json!([month, n]))
        .collect();
    let expect = serde_json::json!({
        "barColour": BAR_COLOUR,
        "barWidth": BAR_WIDTH,
        "monthly": monthly,
    });
    println!("{expect}");
    Ok(())
}

/// The sample report's HTML, with the logo's `cid:` reference pointing at `logo.png`.
fn sample_html(dir: &Path) -> Result<String> {
    let users = dir.join("acme-users.csv");
    std::fs::write(
        &users,
        "firstName,lastName,email\nAyse,Yilmaz,ayse@acme.example\n",
    )?;
    let list = dir.join("acme-changes.csv");
    std::fs::write(&list, "change,email\njoined,ayse@acme.example\n")?;
    let logo = dir.join("logo.png");
    if !logo.is_file() {
        return Err(format!("{} is missing", logo.display()).into());
    }

    let artifact = |path: &Path, rows: u64| -> Result<Artifact> {
        Ok(Artifact {
            path: path.to_path_buf(),
            media_type: "text/csv".to_owned(),
            bytes: std::fs::metadata(path)?.len(),
            rows,
            sha256: None,
        })
    };
    let artifacts = vec![artifact(&users, 431)?, artifact(&list, 14)?];
    let info = ExportInfo {
        company_name: "Acme Holdings".to_owned(),
        company_id: "xC5kfGz7w2Nz".to_owned(),
        started_at: Timestamp::parse("2026-11-02T07:30:00Z").ok_or("the sample timestamp")?,
        expected_rows: None,
    };
    let figures = Figures {
        active: Some(412),
        inactive: Some(19),
        deleted: Some(7),
        licence_limit: Some(500),
        monthly: MONTHLY.iter().map(|(m, n)| ((*m).to_owned(), *n)).collect(),
    };
    let changes = Changes {
        baseline: false,
        joined: 9,
        left: 2,
        changed: 3,
        joined_names: vec![
            "Ayşe Yılmaz <ayse@acme.example>".to_owned(),
            "Bob Builder <bob@acme.example>".to_owned(),
            "Carol Chen <carol@acme.example>".to_owned(),
        ],
        left_names: vec![
            "Dan Dare <dan@acme.example>".to_owned(),
            "Eve Evans <eve@acme.example>".to_owned(),
        ],
        list: Some(list.clone()),
    };
    let summary = Vec::new();
    let report = Report {
        export: &info,
        rows: 431,
        artifacts: &artifacts,
        published: &artifacts,
        encryption: None,
        summary: &summary,
        figures: Some(&figures),
        changes: Some(&changes),
        before: &[],
    };

    let mut mail = MailSettings::new(
        "Acme MSSP Reports <reports@mssp.example>",
        vec!["it@acme.example".to_owned()],
    );
    mail.header = Some("Acme MSSP Security Awareness".to_owned());
    mail.footer = Some("Acme MSSP, 1 Example Street\nsupport@mssp.example".to_owned());
    mail.logo = Some(logo);
    // Never contacted: a preview builds the message only.
    let mut smtp = SmtpSettings::new("127.0.0.1");
    smtp.tls = SmtpTls::None;
    let delivery = EmailDelivery::new(smtp, mail)?;
    let preview = delivery.preview(&report)?;
    if !preview.html.contains(&format!("cid:{LOGO_CONTENT_ID}")) {
        return Err("the HTML does not show the logo".into());
    }
    let html = preview.html_with_logo_file();
    if !html.contains("src=\"logo.png\"") {
        return Err("the logo is not logo.png beside the HTML".into());
    }
    Ok(html)
}
