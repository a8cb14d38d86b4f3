//! `cargo xtask render-email`: renders the summary e-mail of a fixed sample report in a real
//! browser engine and checks the picture.
//!
//! Builds the message's HTML with [`EmailDelivery::preview`] (the code that builds what is
//! sent), writes it to `target/email-render/summary.html` (the logo, embedded by Content-ID in
//! a real message, next to it as `logo.png`), screenshots it with headless Chromium into
//! `target/email-render/summary.png`, then decodes the PNG and checks that it is not blank and
//! that the chart's bars, measured in pixels of their colour ([`BAR_COLOUR`]), are as long as
//! the series says. Prints what it measured. `ci` runs it after the tests.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
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

/// Browser window, in CSS pixels (the screenshot's size at scale 1).
const WINDOW: (u32, u32) = (800, 1400);

/// Width of the 100% bar, in pixels.
const FULL_BAR: f64 = BAR_WIDTH as f64;

/// How far a bar's measured length may be from its expected one: a fraction of the longest
/// bar (rounding to whole percent and to whole pixels stays well within it).
const TOLERANCE: f64 = 0.02;

/// How long the browser may take.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);

/// Renders and checks; takes no arguments.
pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(extra) = args.first() {
        bail!("`render-email` takes no arguments, got {extra:?}");
    }
    let dir = crate::workspace_root().join("target/email-render");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let html_path = dir.join("summary.html");
    let png_path = dir.join("summary.png");

    let html = sample_html(&dir)?;
    std::fs::write(&html_path, &html)
        .with_context(|| format!("writing {}", html_path.display()))?;
    eprintln!("xtask: wrote {}", html_path.display());

    let browser = find_browser()?;
    let _ = std::fs::remove_file(&png_path);
    screenshot(&browser, &html_path, &png_path)?;
    eprintln!("xtask: rendered {}", png_path.display());

    let image = Image::decode(&png_path)?;
    check(&image)
}

/// The sample report's HTML, with the logo's `cid:` reference pointing at a file beside it.
fn sample_html(dir: &Path) -> Result<String> {
    let users = dir.join("acme-users.csv");
    std::fs::write(
        &users,
        "firstName,lastName,email\nAyse,Yilmaz,ayse@acme.example\n",
    )?;
    let list = dir.join("acme-changes.csv");
    std::fs::write(&list, "change,email\njoined,ayse@acme.example\n")?;
    let logo = dir.join("logo.png");
    std::fs::write(&logo, sample_logo()?)?;

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
        started_at: Timestamp::parse("2026-11-02T07:30:00Z").context("the sample timestamp")?,
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
    let delivery = EmailDelivery::new(smtp, mail).context("sample e-mail settings")?;
    let preview = delivery
        .preview(&report)
        .context("building the sample message")?;
    let cid = format!("cid:{LOGO_CONTENT_ID}");
    ensure!(
        preview.html.contains(&cid),
        "the HTML does not show the logo"
    );
    let html = preview.html_with_logo_file();
    ensure!(
        html.contains("src=\"logo.png\""),
        "the logo is not logo.png beside the HTML"
    );
    Ok(html)
}

/// A 160x48 logo: a dark rounded-looking badge with a light stripe (no bar colour in it).
fn sample_logo() -> Result<Vec<u8>> {
    let (w, h) = (160u32, 48u32);
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let stripe = (18..30).contains(&y) && (16..144).contains(&x);
            let rgb = if stripe {
                [0xf6, 0xc3, 0x44]
            } else {
                [0x24, 0x29, 0x2f]
            };
            data.extend_from_slice(&rgb);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&data)?;
    writer.finish()?;
    Ok(out)
}

/// `chromium` or `chromium-browser` on the PATH.
fn find_browser() -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    bail!(
        "render-email needs Chromium to render the e-mail, and neither `chromium` nor \
         `chromium-browser` is on the PATH; install it (Debian: apt-get install chromium; \
         .ci/run does)"
    )
}

/// Runs the headless browser on `html`, writing its screenshot to `png`.
fn screenshot(browser: &Path, html: &Path, png: &Path) -> Result<()> {
    let url = format!("file://{}", html.display());
    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--hide-scrollbars".to_owned(),
        "--force-device-scale-factor=1".to_owned(),
        format!("--screenshot={}", png.display()),
        format!("--window-size={},{}", WINDOW.0, WINDOW.1),
        url,
    ];
    eprintln!("xtask: {} {}", browser.display(), args.join(" "));
    let log = png.with_extension("log");
    let log_file =
        std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let mut child = Command::new(browser)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("cannot run {}", browser.display()))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{} took over {} s; its output is in {}",
                browser.display(),
                BROWSER_TIMEOUT.as_secs(),
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if !status.success() || !png.is_file() {
        let output = std::fs::read_to_string(&log).unwrap_or_default();
        bail!(
            "{} did not write the screenshot ({status}); its output:\n{}",
            browser.display(),
            output.trim_end()
        );
    }
    Ok(())
}

/// A decoded screenshot, 8-bit RGB.
struct Image {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

impl Image {
    fn decode(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let mut decoder = png::Decoder::new(Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder
            .read_info()
            .with_context(|| format!("{} is not a PNG", path.display()))?;
        let size = reader
            .output_buffer_size()
            .context("the screenshot is too large to decode")?;
        let mut buf = vec![0; size];
        let info = reader.next_frame(&mut buf)?;
        let channels = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            png::ColorType::Grayscale => 1,
            png::ColorType::GrayscaleAlpha => 2,
            other => bail!("unexpected screenshot colour type {other:?}"),
        };
        let rgb = buf[..info.buffer_size()]
            .chunks_exact(channels)
            .map(|p| match channels {
                1 | 2 => [p[0]; 3],
                _ => [p[0], p[1], p[2]],
            })
            .collect();
        Ok(Self {
            width: info.width as usize,
            height: info.height as usize,
            rgb,
        })
    }

    fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        self.rgb[y * self.width + x]
    }
}

/// `#1f6feb` as RGB.
fn bar_rgb() -> Result<[u8; 3]> {
    let hex = BAR_COLOUR.trim_start_matches('#');
    ensure!(hex.len() == 6, "bar colour {BAR_COLOUR} is not #rrggbb");
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16);
    Ok([byte(0)?, byte(2)?, byte(4)?])
}

fn near(a: [u8; 3], b: [u8; 3], by: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= by)
}

/// One bar found in the picture: its rows and its length in pixels.
#[derive(Debug)]
struct Bar {
    top: usize,
    bottom: usize,
    left: usize,
    length: usize,
}

/// The runs of the bar colour, row by row, grouped into bars (consecutive rows).
fn find_bars(image: &Image, colour: [u8; 3]) -> Vec<Bar> {
    let mut bars: Vec<Bar> = Vec::new();
    let mut previous_row_had_bar = false;
    for y in 0..image.height {
        // The longest run of the colour in this row.
        let (mut best, mut best_left, mut run, mut left) = (0, 0, 0, 0);
        for x in 0..image.width {
            if near(image.pixel(x, y), colour, 8) {
                if run == 0 {
                    left = x;
                }
                run += 1;
                if run > best {
                    best = run;
                    best_left = left;
                }
            } else {
                run = 0;
            }
        }
        if best == 0 {
            previous_row_had_bar = false;
            continue;
        }
        match bars.last_mut() {
            Some(bar) if previous_row_had_bar => {
                bar.bottom = y;
                bar.length = bar.length.max(best);
                bar.left = bar.left.min(best_left);
            }
            _ => bars.push(Bar {
                top: y,
                bottom: y,
                left: best_left,
                length: best,
            }),
        }
        previous_row_had_bar = true;
    }
    bars
}

/// Not blank, and the bars in the series' proportions.
fn check(image: &Image) -> Result<()> {
    let total = image.width * image.height;
    let ink = image
        .rgb
        .iter()
        .filter(|p| !near(**p, [255, 255, 255], 24))
        .count();
    let mut shades: Vec<[u8; 3]> = image
        .rgb
        .iter()
        .map(|p| [p[0] >> 4, p[1] >> 4, p[2] >> 4])
        .collect();
    shades.sort_unstable();
    shades.dedup();
    println!(
        "render-email: {}x{} screenshot, {:.1}% of pixels not white, {} colour shades",
        image.width,
        image.height,
        ink as f64 * 100.0 / total as f64,
        shades.len()
    );
    ensure!(
        ink * 200 > total && shades.len() >= 8,
        "the screenshot looks blank ({ink} of {total} pixels not white, {} shades)",
        shades.len()
    );

    let colour = bar_rgb()?;
    let bars = find_bars(image, colour);
    let expected: Vec<(&str, u64)> = MONTHLY.iter().copied().filter(|m| m.1 > 0).collect();
    ensure!(
        bars.len() == expected.len(),
        "found {} bars of colour {BAR_COLOUR}, expected {} (one per month with a non-zero count): {bars:?}",
        bars.len(),
        expected.len()
    );
    let max_count = expected.iter().map(|m| m.1).max().unwrap_or(1) as f64;
    let longest = bars.iter().map(|b| b.length).max().unwrap_or(0) as f64;
    ensure!(longest > 0.0, "the bars have no length");
    let mut failures = Vec::new();
    println!(
        "render-email: bars (colour {BAR_COLOUR}), longest {longest} px of {FULL_BAR} px for 100%:"
    );
    for (bar, (month, count)) in bars.iter().zip(&expected) {
        let want = *count as f64 / max_count;
        let got = bar.length as f64 / longest;
        let ok = (got - want).abs() <= TOLERANCE + 1.0 / longest;
        println!(
            "  {month}  count {count:>3}  {:>4} px at x={} y={}..{}  ratio {got:.3} (expected {want:.3}){}",
            bar.length,
            bar.left,
            bar.top,
            bar.bottom,
            if ok { "" } else { "  <-- off" }
        );
        if !ok {
            failures.push(format!("{month}: ratio {got:.3}, expected {want:.3}"));
        }
    }
    // Same left edge: the bars start in one column.
    let lefts: Vec<usize> = bars.iter().map(|b| b.left).collect();
    if lefts.iter().max() != lefts.iter().min() {
        failures.push(format!("the bars do not start at one x: {lefts:?}"));
    }
    if (longest - FULL_BAR).abs() > FULL_BAR * TOLERANCE {
        failures.push(format!(
            "the longest bar is {longest} px, expected about {FULL_BAR} px (the chart's width)"
        ));
    }
    if !failures.is_empty() {
        bail!(
            "the rendered chart is not in the series' proportions (tolerance {:.0}% of the longest bar):\n  {}",
            TOLERANCE * 100.0,
            failures.join("\n  ")
        );
    }
    println!(
        "render-email: ok, every bar within {:.0}% of its proportion",
        TOLERANCE * 100.0
    );
    Ok(())
}
