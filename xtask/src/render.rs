//! `cargo xtask render-email`: renders the summary e-mail of a fixed sample report in a real
//! browser engine and checks the picture.
//!
//! Writes a logo to `target/email-render/logo.png`, then runs the e-mail crate's
//! `sample_summary` example, which builds the message's HTML with `EmailDelivery::preview` (the
//! code that builds what is sent) into `summary.html` beside it and prints what the picture
//! must show (bar colour, full bar width, the monthly series). Screenshots the HTML with
//! headless Chromium into `target/email-render/summary.png`, then decodes the PNG and checks
//! that it is not blank and that the chart's bars, measured in pixels of their colour, are as
//! long as the series says. Prints what it measured. `ci` runs it after the tests.
//!
//! The example, not xtask, links the e-mail crate: xtask stays small, so `setup` runs before
//! anything heavy is compiled.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

/// What the picture must show, as the `sample_summary` example prints it.
struct Expected {
    /// The bars' colour, `#rrggbb`.
    colour: String,
    /// Width of the 100% bar, in pixels.
    full_bar: f64,
    /// Users added per month, oldest first.
    monthly: Vec<(String, u64)>,
}

/// Browser window, in CSS pixels (the screenshot's size at scale 1).
const WINDOW: (u32, u32) = (800, 1400);

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

    let logo = dir.join("logo.png");
    std::fs::write(&logo, sample_logo()?).with_context(|| format!("writing {}", logo.display()))?;
    let _ = std::fs::remove_file(&html_path);
    let expected = sample_html(&dir)?;
    ensure!(
        html_path.is_file(),
        "{} was not written",
        html_path.display()
    );
    eprintln!("xtask: wrote {}", html_path.display());

    let browser = find_browser()?;
    let _ = std::fs::remove_file(&png_path);
    screenshot(&browser, &html_path, &png_path)?;
    eprintln!("xtask: rendered {}", png_path.display());

    let image = Image::decode(&png_path)?;
    check(&image, &expected)
}

/// Runs the e-mail crate's `sample_summary` example into `dir`; what the picture must show.
fn sample_html(dir: &Path) -> Result<Expected> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let args = [
        "run",
        "--quiet",
        "--package",
        "keepnet-sink-email",
        "--example",
        "sample_summary",
        "--",
    ];
    eprintln!("xtask: cargo {} {}", args.join(" "), dir.display());
    let out = Command::new(&cargo)
        .args(args)
        .arg(dir)
        .current_dir(crate::workspace_root())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {cargo}"))?;
    ensure!(
        out.status.success(),
        "the sample_summary example failed ({})",
        out.status
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .context("the sample_summary example's output is not JSON")?;
    let colour = json["barColour"]
        .as_str()
        .context("no barColour in the example's output")?
        .to_owned();
    let full_bar = json["barWidth"]
        .as_f64()
        .context("no barWidth in the example's output")?;
    let monthly = json["monthly"]
        .as_array()
        .context("no monthly in the example's output")?
        .iter()
        .map(|m| Some((m.get(0)?.as_str()?.to_owned(), m.get(1)?.as_u64()?)))
        .collect::<Option<Vec<_>>>()
        .context("monthly is not [[month, count], ...]")?;
    Ok(Expected {
        colour,
        full_bar,
        monthly,
    })
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
         `chromium-browser` is on the PATH; `cargo xtask setup` installs it (Debian: \
         apt-get install chromium)"
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
fn bar_rgb(colour: &str) -> Result<[u8; 3]> {
    let hex = colour.trim_start_matches('#');
    ensure!(
        hex.len() == 6 && hex.is_ascii(),
        "bar colour {colour} is not #rrggbb"
    );
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
fn check(image: &Image, expected: &Expected) -> Result<()> {
    let bar_colour = expected.colour.as_str();
    let full_bar = expected.full_bar;
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

    let colour = bar_rgb(bar_colour)?;
    let bars = find_bars(image, colour);
    let expected: Vec<(&str, u64)> = expected
        .monthly
        .iter()
        .map(|(month, n)| (month.as_str(), *n))
        .filter(|m| m.1 > 0)
        .collect();
    ensure!(
        bars.len() == expected.len(),
        "found {} bars of colour {bar_colour}, expected {} (one per month with a non-zero count): {bars:?}",
        bars.len(),
        expected.len()
    );
    let max_count = expected.iter().map(|m| m.1).max().unwrap_or(1) as f64;
    let longest = bars.iter().map(|b| b.length).max().unwrap_or(0) as f64;
    ensure!(longest > 0.0, "the bars have no length");
    let mut failures = Vec::new();
    println!(
        "render-email: bars (colour {bar_colour}), longest {longest} px of {full_bar} px for 100%:"
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
    if (longest - full_bar).abs() > full_bar * TOLERANCE {
        failures.push(format!(
            "the longest bar is {longest} px, expected about {full_bar} px (the chart's width)"
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
