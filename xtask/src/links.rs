//! `cargo xtask links`: every relative link of the project's Markdown leads somewhere.
//!
//! Reads README.md, ARCHITECTURE.md and every other `.md` at the top of the workspace, and
//! every `docs/*.md`. In each it finds the inline links and images, `[text](target)`, and the
//! reference definitions, `[label]: target`, outside code fences, code spans and HTML comments.
//! Targets on `http://`, `https://` or `mailto:` are not checked (no network here). Every other
//! target must name a file or folder that exists, relative to the page's folder (with a leading
//! `/`, to the workspace root); a `#fragment` must be an anchor of that Markdown file, or of the
//! page itself for a bare `#fragment`: a heading's GitHub slug, or an HTML `id` or `name`.
//! Every broken link is printed as `FILE:LINE: broken link TARGET (why)`.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Targets left unchecked: checking them needs the network.
const EXTERNAL: &[&str] = &["http://", "https://", "mailto:"];

/// Checks every link of the project's Markdown; fails with the count of broken ones.
pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(extra) = args.first() {
        bail!("`links` takes no arguments, got {extra:?}");
    }
    let root = crate::workspace_root();
    let files = markdown_files(&root)?;
    let report = check(&root, &files)?;
    for broken in &report.broken {
        eprintln!("{broken}");
    }
    if !report.broken.is_empty() {
        bail!(
            "{} broken link(s) in the Markdown docs (of {} links in {} files)",
            report.broken.len(),
            report.links,
            files.len()
        );
    }
    eprintln!(
        "xtask: links: {} links in {} files, all valid",
        report.links,
        files.len()
    );
    Ok(())
}

/// The top-level `.md` files, then `docs/*.md`, each group sorted.
fn markdown_files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for folder in [root.to_path_buf(), root.join("docs")] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&folder)
            .with_context(|| format!("reading {}", folder.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "md"))
            .collect();
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// What [`check`] found.
#[derive(Debug, Default)]
struct Report {
    /// Links checked (external ones are not counted).
    links: usize,
    /// One `FILE:LINE: broken link TARGET (why)` line per broken link.
    broken: Vec<String>,
}

/// Checks every link of `files`; paths in the report are relative to `root`.
fn check(root: &Path, files: &[PathBuf]) -> Result<Report> {
    let root = root
        .canonicalize()
        .with_context(|| format!("resolving {}", root.display()))?;
    let mut anchors: HashMap<PathBuf, BTreeSet<String>> = HashMap::new();
    let mut report = Report::default();
    for file in files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let page = parse(&text);
        let real = file
            .canonicalize()
            .with_context(|| format!("resolving {}", file.display()))?;
        anchors.insert(real.clone(), page.anchors);
        for link in page.links {
            if EXTERNAL
                .iter()
                .any(|scheme| link.target.starts_with(scheme))
            {
                continue;
            }
            report.links += 1;
            if let Err(why) = resolve(&root, &real, &link.target, &mut anchors) {
                report.broken.push(format!(
                    "{}:{}: broken link {} ({why})",
                    relative(&root, &real),
                    link.line,
                    link.target
                ));
            }
        }
    }
    Ok(report)
}

/// Whether `target`, written in `page`, leads to a file and anchor that exist; why not.
fn resolve(
    root: &Path,
    page: &Path,
    target: &str,
    anchors: &mut HashMap<PathBuf, BTreeSet<String>>,
) -> Result<(), String> {
    if target.is_empty() {
        return Err("empty target".to_owned());
    }
    let (path, fragment) = match target.split_once('#') {
        Some((path, fragment)) => (path, Some(fragment)),
        None => (target, None),
    };
    let path = path.split('?').next().unwrap_or_default();
    let path = percent_decode(path)?;
    let file = if path.is_empty() {
        page.to_path_buf()
    } else if let Some(from_root) = path.strip_prefix('/') {
        root.join(from_root)
    } else {
        page.parent().unwrap_or(root).join(&path)
    };
    let Ok(real) = file.canonicalize() else {
        return Err("no such file".to_owned());
    };
    if !real.starts_with(root) {
        return Err("outside the repository".to_owned());
    }
    let Some(fragment) = fragment else {
        return Ok(());
    };
    let fragment = percent_decode(fragment)?;
    if fragment.is_empty() {
        return Ok(());
    }
    if real.is_dir() {
        return Err("a fragment on a folder".to_owned());
    }
    if !real
        .extension()
        .is_some_and(|e| e == "md" || e == "markdown")
    {
        // GitHub's line anchors on a source file: #L10, #L10-L20.
        return if is_line_anchor(&fragment) {
            Ok(())
        } else {
            Err("a fragment on a file that is not Markdown".to_owned())
        };
    }
    if !anchors.contains_key(&real) {
        let text = std::fs::read_to_string(&real)
            .map_err(|e| format!("cannot read {}: {e}", relative(root, &real)))?;
        anchors.insert(real.clone(), parse(&text).anchors);
    }
    if anchors[&real].contains(&fragment) {
        Ok(())
    } else {
        Err(format!(
            "no heading with anchor {fragment:?} in {}",
            relative(root, &real)
        ))
    }
}

/// `path` relative to `root`, with `/` separators.
fn relative(root: &Path, path: &Path) -> String {
    let inner = path.strip_prefix(root).unwrap_or(path);
    inner
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// `L10` or `L10-L20`.
fn is_line_anchor(fragment: &str) -> bool {
    let line = |s: &str| {
        s.strip_prefix('L')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    match fragment.split_once('-') {
        Some((from, to)) => line(from) && line(to),
        None => line(fragment),
    }
}

/// Decodes `%XX` escapes (a link to `my%20file.md` names `my file.md`).
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "bad %-escape".to_owned())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "%-escapes that are not UTF-8".to_owned())
}

/// One link of a page.
#[derive(Debug, PartialEq)]
struct Link {
    /// 1-based line of its `[`.
    line: usize,
    target: String,
}

/// What a page links to, and the anchors it offers.
#[derive(Debug, Default)]
struct Page {
    links: Vec<Link>,
    anchors: BTreeSet<String>,
}

/// Reads a page's links and anchors.
fn parse(text: &str) -> Page {
    let prose = outside_fences(text);
    let mut anchors = BTreeSet::new();
    let mut slugger = Slugger::default();
    for heading in headings(&prose) {
        anchors.insert(slugger.slug(&heading));
    }
    let plain = without_code_spans(&prose);
    anchors.extend(html_anchors(&plain));
    let mut links = inline_links(&plain);
    links.extend(reference_definitions(&plain));
    links.sort_by_key(|l| l.line);
    Page { links, anchors }
}

/// The text with every line of a fenced code block (its fences included) made empty, so line
/// numbers are kept.
fn outside_fences(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // The open fence's character and length.
    let mut open: Option<(char, usize)> = None;
    for line in text.lines() {
        let fence = fence_of(line);
        match (open, fence) {
            (None, Some((c, n, _))) => open = Some((c, n)),
            (Some((c, n)), Some((fc, fnum, rest))) if fc == c && fnum >= n && rest.is_empty() => {
                open = None;
            }
            (None, None) => out.push_str(line),
            (Some(_), _) => {}
        }
        out.push('\n');
    }
    out
}

/// A fence line (up to 3 spaces, then 3 or more backticks or tildes): its character, its
/// length and what follows, trimmed.
fn fence_of(line: &str) -> Option<(char, usize, &str)> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let c = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = trimmed.chars().take_while(|x| *x == c).count();
    (n >= 3).then(|| (c, n, trimmed[n..].trim()))
}

/// The text of each heading, in order: ATX (`## Title`) and setext (a line underlined with
/// `===` or `---`).
fn headings(prose: &str) -> Vec<String> {
    let lines: Vec<&str> = prose.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(text) = atx_heading(line) {
            found.push(text.to_owned());
            continue;
        }
        let underline = line.trim();
        let is_underline = !underline.is_empty()
            && (underline.chars().all(|c| c == '=') || underline.chars().all(|c| c == '-'));
        if !is_underline || i == 0 {
            continue;
        }
        let above = lines[i - 1].trim();
        let paragraph = !above.is_empty()
            && atx_heading(lines[i - 1]).is_none()
            && !above.starts_with(['-', '*', '+', '|', '>', '<'])
            && !above.chars().next().is_some_and(|c| c.is_ascii_digit());
        if paragraph {
            found.push(above.to_owned());
        }
    }
    found
}

/// The text of an ATX heading line, its closing `#`s removed.
fn atx_heading(line: &str) -> Option<&str> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let level = trimmed.chars().take_while(|c| *c == '#').count();
    let rest = &trimmed[level..];
    if !(1..=6).contains(&level) || !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let text = rest.trim();
    let unclosed = text.trim_end_matches('#');
    Some(if unclosed.is_empty() {
        ""
    } else if unclosed.ends_with([' ', '\t']) {
        unclosed.trim_end()
    } else {
        text
    })
}

/// GitHub's anchors for a page's headings, numbering repeats as GitHub does.
#[derive(Default)]
struct Slugger {
    /// How many times each plain slug was used.
    seen: HashMap<String, usize>,
}

impl Slugger {
    /// The anchor of the next heading: its slug, or `slug-1`, `slug-2`... when taken.
    fn slug(&mut self, heading: &str) -> String {
        let base = slug(heading);
        let mut result = base.clone();
        while self.seen.contains_key(&result) {
            let count = self.seen.entry(base.clone()).or_default();
            *count += 1;
            result = format!("{base}-{count}");
        }
        self.seen.insert(result.clone(), 0);
        result
    }
}

/// GitHub's slug of a heading: the text it shows (a link's target dropped), lowercased, every
/// character but letters, digits, spaces, hyphens and underscores removed, spaces made hyphens.
fn slug(heading: &str) -> String {
    let mut shown = String::new();
    let mut rest = heading;
    while let Some(at) = rest.find("](") {
        shown.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        rest = after.find(')').map_or("", |end| &after[end + 1..]);
    }
    shown.push_str(rest);
    shown
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The text with code spans and HTML comments blanked (newlines kept), so what they hold is
/// neither a link nor an anchor.
fn without_code_spans(prose: &str) -> String {
    let mut chars: Vec<char> = prose.chars().collect();
    let blank = |chars: &mut [char], from: usize, to: usize| {
        for c in &mut chars[from..to] {
            if *c != '\n' {
                *c = ' ';
            }
        }
    };
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '`' => {
                let run = run_length(&chars, i, '`');
                match closing_run(&chars, i + run, run) {
                    Some(end) => {
                        blank(&mut chars, i, end + run);
                        i = end + run;
                    }
                    None => i += run,
                }
            }
            '<' if starts_with(&chars, i, "<!--") => {
                let end = (i + 4..chars.len())
                    .find(|&j| starts_with(&chars, j, "-->"))
                    .map_or(chars.len(), |j| j + 3);
                blank(&mut chars, i, end);
                i = end;
            }
            _ => i += 1,
        }
    }
    chars.into_iter().collect()
}

/// How many `c` in a row start at `at`.
fn run_length(chars: &[char], at: usize, c: char) -> usize {
    chars[at..].iter().take_while(|x| **x == c).count()
}

/// Whether `text` is written at `at`.
fn starts_with(chars: &[char], at: usize, text: &str) -> bool {
    text.chars()
        .enumerate()
        .all(|(k, c)| chars.get(at + k) == Some(&c))
}

/// Where a run of exactly `run` backticks starts, from `from` to the end of the paragraph.
fn closing_run(chars: &[char], from: usize, run: usize) -> Option<usize> {
    let mut j = from;
    while j < chars.len() {
        match chars[j] {
            '`' => {
                let n = run_length(chars, j, '`');
                if n == run {
                    return Some(j);
                }
                j += n;
            }
            '\n' if blank_line_follows(chars, j) => return None,
            _ => j += 1,
        }
    }
    None
}

/// Whether the line after the newline at `at` is empty or only whitespace.
fn blank_line_follows(chars: &[char], at: usize) -> bool {
    chars[at + 1..]
        .iter()
        .take_while(|c| **c != '\n')
        .all(|c| c.is_whitespace())
}

/// 1-based line of each position: the count of newlines before it, plus one.
fn line_at(chars: &[char], at: usize) -> usize {
    chars[..at].iter().filter(|c| **c == '\n').count() + 1
}

/// `[text](target)` and `![alt](target)`, nested ones included.
fn inline_links(plain: &str) -> Vec<Link> {
    let chars: Vec<char> = plain.chars().collect();
    let mut links = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '[' => {
                if let Some(close) = matching_bracket(&chars, i) {
                    if chars.get(close + 1) == Some(&'(') {
                        if let Some(target) = destination(&chars, close + 2) {
                            links.push(Link {
                                line: line_at(&chars, i),
                                target,
                            });
                        }
                    }
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    links
}

/// The `]` that closes the `[` at `open`, within its paragraph.
fn matching_bracket(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = open;
    while j < chars.len() {
        match chars[j] {
            '\\' => j += 1,
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            '\n' if blank_line_follows(chars, j) => return None,
            _ => {}
        }
        j += 1;
    }
    None
}

/// The target of a link whose `(` is just before `from`: `<...>` or a run without spaces (its
/// parentheses balanced), then an optional title, then `)`. None when that is not a link.
fn destination(chars: &[char], from: usize) -> Option<String> {
    let skip_space = |mut j: usize| {
        while chars.get(j).is_some_and(|c| c.is_whitespace()) {
            j += 1;
        }
        j
    };
    let mut j = skip_space(from);
    let mut target = String::new();
    if chars.get(j) == Some(&'<') {
        j += 1;
        while let Some(&c) = chars.get(j) {
            match c {
                '>' => break,
                '\n' => return None,
                _ => target.push(c),
            }
            j += 1;
        }
        chars.get(j)?;
        j += 1;
    } else {
        let mut depth = 0usize;
        while let Some(&c) = chars.get(j) {
            match c {
                '\\' if chars.get(j + 1).is_some_and(char::is_ascii_punctuation) => {
                    target.push(chars[j + 1]);
                    j += 2;
                    continue;
                }
                '(' => depth += 1,
                ')' if depth == 0 => break,
                ')' => depth -= 1,
                c if c.is_whitespace() => break,
                _ => {}
            }
            target.push(c);
            j += 1;
        }
    }
    j = skip_space(j);
    if let Some(&quote) = chars.get(j).filter(|c| matches!(c, '"' | '\'' | '(')) {
        let close = if quote == '(' { ')' } else { quote };
        j += 1;
        while chars.get(j).is_some_and(|c| *c != close) {
            j += 1;
        }
        j = skip_space(j + 1);
    }
    (chars.get(j) == Some(&')')).then_some(target)
}

/// `[label]: target` lines (footnotes, `[^1]: ...`, are not links).
fn reference_definitions(plain: &str) -> Vec<Link> {
    let mut links = Vec::new();
    for (i, line) in plain.lines().enumerate() {
        let trimmed = line.trim_start_matches(' ');
        if line.len() - trimmed.len() > 3 {
            continue;
        }
        let Some(inner) = trimmed.strip_prefix('[') else {
            continue;
        };
        let Some((label, rest)) = inner.split_once("]:") else {
            continue;
        };
        if label.trim().is_empty() || label.starts_with('^') || label.contains(['[', ']']) {
            continue;
        }
        let rest = rest.trim_start();
        let target = match rest.strip_prefix('<') {
            Some(bracketed) => bracketed.split('>').next().unwrap_or_default(),
            None => rest.split_whitespace().next().unwrap_or_default(),
        };
        if !target.is_empty() {
            links.push(Link {
                line: i + 1,
                target: target.to_owned(),
            });
        }
    }
    links
}

/// Anchors HTML gives: `id="..."` and `name="..."` attributes.
fn html_anchors(plain: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in [" id=\"", " name=\""] {
        let mut rest = plain;
        while let Some(at) = rest.find(attribute) {
            let value = &rest[at + attribute.len()..];
            if let Some(end) = value.find('"') {
                found.push(value[..end].to_owned());
            }
            rest = value;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchors(text: &str) -> Vec<String> {
        let mut slugger = Slugger::default();
        headings(&outside_fences(text))
            .iter()
            .map(|h| slugger.slug(h))
            .collect()
    }

    fn targets(text: &str) -> Vec<(usize, String)> {
        parse(text)
            .links
            .into_iter()
            .map(|l| (l.line, l.target))
            .collect()
    }

    #[test]
    fn slugs_follow_github() {
        assert_eq!(
            slug("Only this customer's people"),
            "only-this-customers-people"
        );
        assert_eq!(slug("E-mail"), "e-mail");
        assert_eq!(slug("S3-compatible storage"), "s3-compatible-storage");
        assert_eq!(
            slug("`--summary-json`: the run summary (version 1)"),
            "--summary-json-the-run-summary-version-1"
        );
        assert_eq!(slug("Müşteri A.Ş. & Co"), "müşteri-aş--co");
        assert_eq!(slug("snake_case  Two"), "snake_case--two");
        assert_eq!(slug("See [the guide](docs/x.md#y)"), "see-the-guide");
        assert_eq!(
            anchors("# A\n## A ##\n### A\n# A-1\nB\n===\n"),
            ["a", "a-1", "a-2", "a-1-1", "b"]
        );
    }

    #[test]
    fn code_fences_and_spans_hold_no_links_or_headings() {
        let text = "\
# Title
````md
```sh
# not a heading
[x](fenced.md)
```
still fenced: a fence closes only with as many backticks
````
~~~
[y](tilde.md)
~~~
A `[z](span.md)` and ``a ` [w](double.md)`` and a span `across
[v](lines.md)` end.
Then [real](real.md \"title\") and ![img](<pic one.png>) and \\[escaped](no.md).
[ref]: ref.md#top
    [deep]: indented-four.md
<!-- [c](comment.md) -->
";
        assert_eq!(anchors(text), ["title"]);
        assert_eq!(
            targets(text),
            [
                (14, "real.md".to_owned()),
                (14, "pic one.png".to_owned()),
                (15, "ref.md#top".to_owned())
            ]
        );
    }

    #[test]
    fn broken_links_are_reported_and_valid_ones_pass() {
        let dir = std::env::temp_dir().join(format!("xtask-links-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("docs/sub")).unwrap();
        let page = "\
# Top

Valid: [b](b.md#there), [self](#top), [folder](sub/), [web](https://example.invalid/x#y),
[code](../code.rs#L3-L9), [mail](mailto:a@example.invalid).
Broken: [no file](c.md), [no heading](b.md#nowhere), [fragment](../code.rs#main).

[ref]: b.md#missing
";
        std::fs::write(dir.join("docs/a.md"), page).unwrap();
        std::fs::write(dir.join("docs/b.md"), "# B\n\n## There\n").unwrap();
        std::fs::write(dir.join("code.rs"), "fn main() {}\n").unwrap();
        let report = check(&dir, &[dir.join("docs/a.md")]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(report.links, 8);
        assert_eq!(
            report.broken,
            [
                "docs/a.md:5: broken link c.md (no such file)",
                "docs/a.md:5: broken link b.md#nowhere (no heading with anchor \"nowhere\" in docs/b.md)",
                "docs/a.md:5: broken link ../code.rs#main (a fragment on a file that is not Markdown)",
                "docs/a.md:7: broken link b.md#missing (no heading with anchor \"missing\" in docs/b.md)",
            ]
        );
    }

    /// The project's own docs: `cargo test -p xtask -- --ignored repo_links`.
    #[test]
    #[ignore = "reads the workspace's Markdown; `cargo xtask links` runs it"]
    fn repo_links() {
        run(&[]).unwrap();
    }
}
