//! Walks the parsed TOML tree, builds the [`JobFile`] and collects every error.

use std::collections::HashMap;
use std::path::PathBuf;

use toml::de::{DeString, DeTable, DeValue};
use toml::Spanned;

use keepnet_export_core::settings::{ExportSettings, Origin, OutputSettings, SinkOption, Sourced};
use keepnet_export_core::sinks::Registry;
use keepnet_sink::HeaderStyle;

use crate::text;
use crate::{Companies, Email, Header, Job, JobError, JobFile, Located, Smtp, Tls};

type Key<'i> = Spanned<DeString<'i>>;
type Value<'i> = Spanned<DeValue<'i>>;

const ROOT_KEYS: [&str; 2] = ["smtp", "job"];
const SMTP_KEYS: [&str; 7] = [
    "host",
    "port",
    "tls",
    "user",
    "password_env",
    "from",
    "ca_file",
];
const JOB_KEYS: [&str; 20] = [
    "name",
    "companies",
    "search",
    "status",
    "columns",
    "header",
    "sinks",
    "allow_incomplete",
    "strict",
    "fail_fast",
    "email",
    "options",
    "order_by",
    "descending",
    "page_size",
    "state",
    "changes",
    "rollup",
    "fail_on_changes",
    "mail_skip_unchanged",
];
const EMAIL_KEYS: [&str; 5] = ["subject", "cc", "bcc", "default", "to"];

pub(crate) fn parse(text: &str, registry: &Registry) -> Result<JobFile, Vec<JobError>> {
    let (root, syntax) = DeTable::parse_recoverable(text);
    let mut checker = Checker {
        text,
        positions: text::Positions::new(text),
        registry,
        errors: Vec::new(),
        smtp_options: Vec::new(),
        email_options: Vec::new(),
    };
    let file = if syntax.is_empty() {
        Some(checker.file(root.get_ref()))
    } else {
        for error in &syntax {
            checker.syntax(error);
        }
        None
    };
    match file {
        Some(file) if checker.errors.is_empty() => Ok(file),
        _ => {
            checker.errors.sort_by_key(|e| (e.line, e.column));
            // A rule on `[smtp]` is checked with every job: say it once.
            checker.errors.dedup();
            Err(checker.errors)
        }
    }
}

/// How a table's keys turned out: the suggestions made for unknown keys.
struct Keys {
    suggested: Vec<&'static str>,
}

impl Keys {
    fn suggested(&self, key: &str) -> bool {
        self.suggested.contains(&key)
    }
}

struct Checker<'t> {
    text: &'t str,
    /// Where each line starts, built once: every error and value is placed by it.
    positions: text::Positions<'t>,
    /// The sink kinds the file may name (what the rules on sinks need to know of them).
    registry: &'t Registry,
    errors: Vec<JobError>,
    /// `[smtp]` as the e-mail kind's options, each at its key (the rule on logging in
    /// without TLS points at `tls`).
    smtp_options: Vec<SinkOption>,
    /// The current job's `[job.email]` as the e-mail kind's options.
    email_options: Vec<SinkOption>,
}

impl Checker<'_> {
    fn at(&mut self, offset: usize, message: impl Into<String>) {
        let (line, column) = self.positions.position(offset);
        self.errors.push(JobError {
            line,
            column,
            message: message.into(),
        });
    }

    fn line(&self, offset: usize) -> usize {
        self.positions.position(offset).0
    }

    fn located<T>(&self, offset: usize, value: T) -> Located<T> {
        let (line, column) = self.positions.position(offset);
        Located {
            value,
            line,
            column,
        }
    }

    /// Byte offset in the file of byte `index` of a string value's content, when the
    /// string is written without escapes; else the value's start.
    fn inside(&self, value: &Value<'_>, content: &str, index: usize) -> usize {
        let span = value.span();
        let raw = self.text.get(span.clone()).unwrap_or("");
        let plain = raw.len() == content.len() + 2 && raw.get(1..raw.len() - 1) == Some(content);
        if plain {
            span.start + 1 + index
        } else {
            span.start
        }
    }

    /// Where a job-file value came from, for the engine's settings.
    fn origin(&self, key: &str, value: &Value<'_>, content: Option<&str>) -> Origin {
        let span = value.span();
        let raw = self.text.get(span.clone()).unwrap_or("");
        let plain = content
            .is_some_and(|c| raw.len() == c.len() + 2 && raw.get(1..raw.len() - 1) == Some(c));
        Origin::File {
            key: key.to_owned(),
            offset: span.start,
            plain,
        }
    }

    /// Reports what the engine's one check of the settings found, at the value it is about.
    fn settings(&mut self, outputs: &OutputSettings, several: bool) -> bool {
        match outputs.check_rules(several, self.registry) {
            Ok(_) => true,
            Err(broken) => {
                for invalid in broken {
                    let offset = invalid.origin.file_offset(invalid.at).unwrap_or(0);
                    self.at(offset, invalid.message);
                }
                false
            }
        }
    }

    fn syntax(&mut self, error: &toml::de::Error) {
        let span = error.span().unwrap_or(0..0);
        let message = if error.message() == "duplicate key" {
            let key = self.text.get(span.clone()).unwrap_or("").trim();
            format!(
                "duplicate key `{key}`: a key or [table] may appear only once; write [[job]] (double brackets) for each job"
            )
        } else {
            format!("TOML syntax error: {}", error.message())
        };
        self.at(span.start, message);
    }

    /// Reports keys of `table` not in `known`, suggesting the closest known one.
    fn keys(&mut self, table: &DeTable<'_>, known: &[&'static str], section: &str) -> Keys {
        let mut suggested = Vec::new();
        for (key, _) in table.iter() {
            let name: &str = key.get_ref();
            if known.contains(&name) {
                continue;
            }
            if section == "[smtp]" && name == "password" {
                self.at(
                    key.span().start,
                    "a literal `password` is not allowed in a job file (secrets never belong in files): \
                     put the password in an environment variable and write password_env = \"KEEPNET_SMTP_PASSWORD\"",
                );
                continue;
            }
            if section != "the file" && ROOT_KEYS.contains(&name) {
                self.at(
                    key.span().start,
                    format!(
                        "unknown key `{name}` in {section}: everything after the {section} header belongs to {section}; \
                         move `{name}` above it, or write [[job]] for a job"
                    ),
                );
                continue;
            }
            let message = match text::suggest(name, known) {
                Some(best) => {
                    suggested.push(best);
                    format!("unknown key `{name}` in {section}: did you mean `{best}`?")
                }
                None => format!(
                    "unknown key `{name}` in {section}; known keys: {}",
                    known.join(", ")
                ),
            };
            self.at(key.span().start, message);
        }
        Keys { suggested }
    }

    fn type_error(&mut self, value: &Value<'_>, key: &str, expected: &str) {
        let found = type_name(value.get_ref());
        self.at(
            value.span().start,
            format!("`{key}` must be {expected}, found {found}"),
        );
    }

    fn string(&mut self, value: &Value<'_>, key: &str) -> Option<String> {
        match value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.type_error(value, key, "a string");
                None
            }
        }
    }

    fn boolean(&mut self, value: &Value<'_>, key: &str) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.type_error(value, key, "true or false");
                None
            }
        }
    }

    /// An array of strings, each with its value (for positions); `example` shows the form.
    fn strings<'a, 'i>(
        &mut self,
        value: &'a Value<'i>,
        key: &str,
        example: &str,
    ) -> Option<Vec<(String, &'a Value<'i>)>> {
        let DeValue::Array(items) = value.get_ref() else {
            let hint = match value.get_ref() {
                DeValue::String(s) => format!("; write {key} = [{s:?}]"),
                _ => format!(", e.g. {key} = {example}"),
            };
            let found = type_name(value.get_ref());
            self.at(
                value.span().start,
                format!("`{key}` must be an array of strings, found {found}{hint}"),
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push((s.to_string(), item)),
                other => {
                    ok = false;
                    let found = type_name(other);
                    self.at(
                        item.span().start,
                        format!("each entry of `{key}` must be a string, found {found}"),
                    );
                }
            }
        }
        ok.then_some(out)
    }

    /// An array of e-mail addresses, each checked.
    fn addresses(&mut self, value: &Value<'_>, key: &str) -> Option<Vec<String>> {
        let items = self.strings(value, key, "[\"it@acme.example\"]")?;
        let mut ok = true;
        for (address, item) in &items {
            if let Err(message) = text::check_address(address) {
                ok = false;
                self.at(item.span().start, message);
            }
        }
        ok.then(|| items.into_iter().map(|(s, _)| s).collect())
    }

    fn file(&mut self, root: &DeTable<'_>) -> JobFile {
        self.keys(root, &ROOT_KEYS, "the file");
        let smtp_entry = entry(root, "smtp");
        let smtp = smtp_entry.and_then(|(key, value)| self.smtp(key, value));
        let mut jobs = Vec::new();
        match entry(root, "job") {
            None => self.at(
                0,
                "no jobs: add at least one [[job]] with name, companies and sinks",
            ),
            Some((key, value)) => match value.get_ref() {
                DeValue::Array(items) if !items.is_empty() => {
                    let mut names = HashMap::new();
                    for item in items.iter() {
                        if let Some(job) =
                            self.job(item, smtp.as_ref(), smtp_entry.is_some(), &mut names)
                        {
                            jobs.push(job);
                        }
                    }
                }
                DeValue::Table(_) => self.at(
                    anchor(key, value),
                    "`job` must be written [[job]] (double brackets), once per job",
                ),
                _ => self.at(
                    value.span().start,
                    "no jobs: add at least one [[job]] with name, companies and sinks",
                ),
            },
        }
        JobFile { smtp, jobs }
    }

    fn smtp(&mut self, key: &Key<'_>, value: &Value<'_>) -> Option<Smtp> {
        let start = anchor(key, value);
        let DeValue::Table(table) = value.get_ref() else {
            self.type_error(value, "smtp", "a table ([smtp])");
            return None;
        };
        let keys = self.keys(table, &SMTP_KEYS, "[smtp]");
        let mut ok = true;

        let host = match entry(table, "host") {
            Some((_, v)) => self.string(v, "host").and_then(|host| {
                let port_inside = host
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.contains(':') && p.parse::<u16>().is_ok());
                if host.trim().is_empty() || host.contains(char::is_whitespace) {
                    self.at(
                        v.span().start,
                        "`host` must be a host name, e.g. host = \"smtp.mssp.example\"",
                    );
                    None
                } else if host.contains("://") || port_inside {
                    self.at(
                        v.span().start,
                        "`host` is a bare host name: no scheme, and the port goes in port = 587",
                    );
                    None
                } else {
                    Some(host)
                }
            }),
            None => {
                if !keys.suggested("host") {
                    self.at(
                        start,
                        "[smtp] has no `host`: add host = \"smtp.mssp.example\"",
                    );
                }
                None
            }
        };
        ok &= host.is_some();

        // The number goes to the e-mail kind's `smtp-port` option: the engine judges it, with
        // the message a flag or a variable gets.
        let mut port = None;
        let mut port_text = None;
        if let Some((_, v)) = entry(table, "port") {
            match v.get_ref() {
                DeValue::Integer(i) => {
                    let n = i64::from_str_radix(i.as_str(), i.radix()).ok();
                    port = n.and_then(|n| u16::try_from(n).ok());
                    port_text = Some(n.map_or_else(|| i.as_str().to_owned(), |n| n.to_string()));
                }
                _ => {
                    ok = false;
                    self.type_error(v, "port", "an integer, e.g. port = 587");
                }
            }
        }

        // The word goes to the e-mail kind's `smtp-tls` option, a choice the engine judges
        // with the message a flag or a variable gets.
        let mut tls = Tls::StartTls;
        let mut tls_text = None;
        if let Some((_, v)) = entry(table, "tls") {
            match self.string(v, "tls") {
                Some(word) => {
                    tls = match word.as_str() {
                        "tls" => Tls::Tls,
                        "none" => Tls::None,
                        _ => Tls::StartTls,
                    };
                    tls_text = Some(word);
                }
                None => ok = false,
            }
        }

        let user_entry = entry(table, "user");
        let user = match user_entry {
            Some((_, v)) => match self.string(v, "user") {
                Some(user) if user.trim().is_empty() => {
                    ok = false;
                    self.at(
                        v.span().start,
                        "`user` is empty: remove it, or write the SMTP user name",
                    );
                    None
                }
                Some(user) => Some(user),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };

        let password_entry = entry(table, "password_env");
        let password_env = match password_entry {
            Some((_, v)) => match v.get_ref() {
                // The value may be a password pasted by mistake: never echo it.
                DeValue::String(name) if is_env_name(name) => Some(name.to_string()),
                DeValue::String(_) => {
                    ok = false;
                    self.at(
                        v.span().start,
                        "`password_env` must be the NAME of an environment variable (letters, digits and _), \
                         e.g. password_env = \"KEEPNET_SMTP_PASSWORD\", not the password itself",
                    );
                    None
                }
                _ => {
                    ok = false;
                    self.type_error(v, "password_env", "a string");
                    None
                }
            },
            None => None,
        };

        match (user_entry, password_entry) {
            (Some((k, _)), None) if !keys.suggested("password_env") => {
                ok = false;
                self.at(
                    k.span().start,
                    "`user` needs a password: add password_env = \"KEEPNET_SMTP_PASSWORD\" (the name of the variable holding it)",
                );
            }
            (None, Some((k, _))) if !keys.suggested("user") => {
                ok = false;
                self.at(
                    k.span().start,
                    "`password_env` needs a `user`: add user = \"reports@mssp.example\"",
                );
            }
            _ => {}
        }
        let from = match entry(table, "from") {
            Some((_, v)) => {
                self.string(v, "from")
                    .and_then(|from| match text::check_address(&from) {
                        Ok(()) => Some(from),
                        Err(message) => {
                            self.at(v.span().start, format!("`from`: {message}"));
                            None
                        }
                    })
            }
            None => {
                if !keys.suggested("from") {
                    self.at(
                        start,
                        "[smtp] has no `from`: add from = \"Reports <reports@mssp.example>\"",
                    );
                }
                None
            }
        };
        ok &= from.is_some();

        let ca_file = match entry(table, "ca_file") {
            Some((_, v)) => match self.string(v, "ca_file") {
                Some(path) if path.trim().is_empty() => {
                    ok = false;
                    self.at(
                        v.span().start,
                        "`ca_file` is empty: remove it, or give the path of a PEM file",
                    );
                    None
                }
                Some(path) => Some(PathBuf::from(path)),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };

        let smtp = Some(Smtp {
            host: host?,
            port,
            tls,
            user,
            password_env,
            from: from?,
            ca_file,
            line: self.line(start),
        })
        .filter(|_| ok)?;
        let words = [
            ("host", "smtp-host", Some(smtp.host.clone())),
            ("port", "smtp-port", port_text),
            ("tls", "smtp-tls", tls_text),
            ("user", "smtp-user", smtp.user.clone()),
            ("from", "from", Some(smtp.from.clone())),
            (
                "ca_file",
                "smtp-ca-file",
                smtp.ca_file.as_ref().map(|p| p.display().to_string()),
            ),
        ];
        for (key, name, text) in words {
            if let (Some((_, v)), Some(text)) = (entry(table, key), text) {
                let option = self.email_option(key, name, v, text);
                self.smtp_options.push(option);
            }
        }
        Some(smtp)
    }

    /// A job-file key that sets the e-mail kind's option `name`, its origin at the key.
    fn email_option(&self, key: &str, name: &str, v: &Value<'_>, text: String) -> SinkOption {
        let origin = self.origin(key, v, Some(&text));
        SinkOption {
            key: Sourced::new(format!("email.{name}"), origin.clone()),
            value: Sourced::new(text, origin),
            written: None,
        }
    }

    fn job(
        &mut self,
        value: &Value<'_>,
        smtp: Option<&Smtp>,
        has_smtp: bool,
        names: &mut HashMap<String, usize>,
    ) -> Option<Job> {
        let start = value.span().start;
        let DeValue::Table(table) = value.get_ref() else {
            self.type_error(value, "job", "a table: write [[job]] followed by its keys");
            return None;
        };
        let keys = self.keys(table, &JOB_KEYS, "[[job]]");
        let mut ok = true;

        let name = match entry(table, "name") {
            Some((_, v)) => self
                .string(v, "name")
                .and_then(|name| self.job_name(v, name, names)),
            None => {
                if !keys.suggested("name") {
                    self.at(start, "[[job]] has no `name`: add name = \"monthly-report\" (lowercase letters, digits, - and _)");
                }
                None
            }
        };
        ok &= name.is_some();

        let companies = match entry(table, "companies") {
            Some((_, v)) => self.companies(v),
            None => {
                if !keys.suggested("companies") {
                    self.at(
                        start,
                        "[[job]] has no `companies`: add companies = \"all\" or companies = [\"Acme Holdings\"]",
                    );
                }
                None
            }
        };
        ok &= companies.is_some();
        let several = match &companies {
            Some(Companies::All) => true,
            Some(Companies::List(list)) => list.len() > 1,
            None => false,
        };

        let search = match entry(table, "search") {
            Some((_, v)) => match self.string(v, "search") {
                Some(s) => Some(s).filter(|s| !s.is_empty()),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };

        let mut status_origins = Vec::new();
        let status = match entry(table, "status") {
            Some((_, v)) => match self.strings(v, "status", "[\"active\", \"inactive\"]") {
                Some(items) if items.is_empty() => {
                    ok = false;
                    self.at(
                        v.span().start,
                        "`status` is empty: remove it to export active and inactive users, or list some",
                    );
                    None
                }
                Some(items) => Some(
                    items
                        .into_iter()
                        .map(|(word, item)| {
                            status_origins.push(Sourced::new(
                                word.clone(),
                                self.origin("status", item, Some(&word)),
                            ));
                            self.located(item.span().start, word)
                        })
                        .collect(),
                ),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };

        let mut column_origins = Vec::new();
        let columns = match entry(table, "columns") {
            Some((_, v)) => {
                match self.strings(v, "columns", "[\"email\", \"firstName\"]") {
                    Some(items) if items.is_empty() => {
                        ok = false;
                        self.at(v.span().start, "`columns` is empty: remove it to export the default columns, or list some");
                        None
                    }
                    Some(items) => {
                        let mut out = Vec::new();
                        for (column, item) in items {
                            if column.trim().is_empty() {
                                ok = false;
                                self.at(item.span().start, "empty column name: remove it");
                            }
                            column_origins.push(Sourced::new(
                                column.clone(),
                                self.origin("columns", item, Some(&column)),
                            ));
                            out.push(self.located(item.span().start, column));
                        }
                        Some(out)
                    }
                    None => {
                        ok = false;
                        None
                    }
                }
            }
            None => None,
        };

        let header = match entry(table, "header") {
            Some((_, v)) => match self.string(v, "header").as_deref() {
                Some("api") => Some(Header::Api),
                Some("human") => Some(Header::Human),
                Some(other) => {
                    ok = false;
                    self.at(
                        v.span().start,
                        format!("`header` must be \"api\" or \"human\", not {other:?}"),
                    );
                    None
                }
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };

        // A change report or a rollup is an output of its own: a job may name only those.
        let other_outputs = entry(table, "changes").is_some() || entry(table, "rollup").is_some();
        let sinks = match entry(table, "sinks") {
            Some((_, v)) => self.sinks(v),
            None if other_outputs => Some(Vec::new()),
            None => {
                if !keys.suggested("sinks") {
                    self.at(
                        start,
                        "[[job]] has no outputs: add sinks = [\"csv:out/{company}-{date}.csv\"] \
                         (or changes, or rollup)",
                    );
                }
                None
            }
        };
        ok &= sinks.is_some();

        let mut flag = |key: &str| match entry(table, key) {
            Some((_, v)) => {
                let b = self.boolean(v, key);
                ok &= b.is_some();
                let origin = self.origin(key, v, None);
                Sourced::new(b.unwrap_or(false), origin)
            }
            None => Sourced::new(false, Origin::Default),
        };
        let allow_incomplete_set = flag("allow_incomplete");
        let strict = flag("strict").value;
        let fail_fast_set = flag("fail_fast");
        let flag_descending = flag("descending");
        let fail_on_changes = flag("fail_on_changes");
        let mail_skip_unchanged = flag("mail_skip_unchanged");
        let (allow_incomplete, fail_fast) = (allow_incomplete_set.value, fail_fast_set.value);
        if strict && allow_incomplete {
            if let Some((_, v)) = entry(table, "strict") {
                self.at(
                    v.span().start,
                    "strict = true contradicts allow_incomplete = true; remove strict (failing \
                     on an incomplete read is the default)",
                );
                ok = false;
            }
        }

        self.email_options.clear();
        let email = match entry(table, "email") {
            Some((k, v)) => {
                let email = self.email(k, v, has_smtp);
                ok &= email.is_some();
                email
            }
            None => None,
        };

        let options = match entry(table, "options") {
            Some((_, v)) => self.options(v),
            None => Some(Vec::new()),
        };
        ok &= options.is_some();
        let sinks = sinks?;
        let outputs = self.outputs(
            &sinks,
            options.unwrap_or_default(),
            header,
            smtp,
            email.as_ref(),
        );
        ok &= self.settings(&outputs, several);
        let order_by = match entry(table, "order_by") {
            Some((_, v)) => match self.string(v, "order_by") {
                Some(field) => Some(Sourced::new(
                    field.clone(),
                    self.origin("order_by", v, Some(&field)),
                )),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let page_size = match entry(table, "page_size") {
            Some((_, v)) => match v.get_ref() {
                DeValue::Integer(n) => Some(Sourced::new(
                    n.to_string(),
                    self.origin("page_size", v, None),
                )),
                _ => {
                    ok = false;
                    self.type_error(v, "page_size", "an integer, e.g. page_size = 500");
                    None
                }
            },
            None => None,
        };
        let state = match entry(table, "state") {
            Some((_, v)) => match self.string(v, "state") {
                Some(dir) => Some(Sourced::new(
                    dir.clone(),
                    self.origin("state", v, Some(&dir)),
                )),
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };
        let mut row_list = |key: &str, example: &str| match entry(table, key) {
            Some((_, v)) => match self.strings(v, key, example) {
                Some(items) => items
                    .iter()
                    .map(|(text, item)| {
                        Sourced::new(text.clone(), self.origin(key, item, Some(text)))
                    })
                    .collect(),
                None => {
                    ok = false;
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        let changes = row_list("changes", "[\"jsonl:out/{company}-changes.jsonl\"]");
        let rollup = row_list("rollup", "[\"xlsx:out/rollup-{date}.xlsx\"]");
        let settings = ExportSettings {
            order_by,
            descending: flag_descending,
            page_size,
            search: search.clone().map(|text| {
                let origin = entry(table, "search").map_or(Origin::Default, |(_, v)| {
                    self.origin("search", v, Some(&text))
                });
                Sourced::new(text, origin)
            }),
            statuses: status_origins,
            columns: columns.is_some().then_some(column_origins),
            allow_incomplete: allow_incomplete_set,
            fail_fast: fail_fast_set,
            outputs,
            report: keepnet_export_core::settings::ReportSettings {
                state,
                changes,
                rollup,
                fail_on_changes,
                mail_skip_unchanged,
            },
        };

        Some(Job {
            name: name?,
            companies: companies?,
            search,
            status,
            columns,
            header,
            sinks: sinks.into_iter().map(|(sink, _)| sink).collect(),
            settings,
            allow_incomplete,
            fail_fast,
            email,
            line: self.line(start),
        })
        .filter(|_| ok)
    }

    fn job_name(
        &mut self,
        value: &Value<'_>,
        name: String,
        names: &mut HashMap<String, usize>,
    ) -> Option<String> {
        let offset = value.span().start;
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !valid {
            let slug: String = name
                .trim()
                .chars()
                .map(|c| match c.to_ascii_lowercase() {
                    c @ ('a'..='z' | '0'..='9' | '_' | '-') => c,
                    _ => '-',
                })
                .collect();
            let slug = if slug.is_empty() {
                "monthly-report".to_owned()
            } else {
                slug
            };
            self.at(
                offset,
                format!(
                    "job name {name:?} may use only lowercase letters, digits, - and _: e.g. name = {slug:?}"
                ),
            );
            return None;
        }
        let line = self.line(offset);
        if let Some(&first) = names.get(&name) {
            self.at(
                offset,
                format!("duplicate job name {name:?} (first used on line {first}): give each job its own name"),
            );
            return None;
        }
        names.insert(name.clone(), line);
        Some(name)
    }

    fn companies(&mut self, value: &Value<'_>) -> Option<Companies> {
        match value.get_ref() {
            DeValue::String(s) if s == "all" => Some(Companies::All),
            DeValue::String(s) => {
                self.at(
                    value.span().start,
                    format!(
                        "`companies` must be \"all\" or a list of company ids or names: for one company write companies = [{s:?}]"
                    ),
                );
                None
            }
            DeValue::Array(_) => {
                let items = self.strings(value, "companies", "[\"Acme Holdings\"]")?;
                if items.is_empty() {
                    self.at(
                        value.span().start,
                        "`companies` is empty: list company ids or names, or write companies = \"all\"",
                    );
                    return None;
                }
                let mut ok = true;
                let mut list: Vec<Located<String>> = Vec::new();
                for (company, item) in items {
                    let offset = item.span().start;
                    if company.trim().is_empty() || company.chars().any(char::is_control) {
                        ok = false;
                        self.at(
                            offset,
                            "a company must be a non-empty id or name without control characters",
                        );
                    } else if let Some(first) = list.iter().find(|c| c.value == company) {
                        ok = false;
                        let first = first.line;
                        self.at(
                            offset,
                            format!(
                                "{company:?} is listed twice (first on line {first}): remove one"
                            ),
                        );
                    }
                    list.push(self.located(offset, company));
                }
                ok.then_some(Companies::List(list))
            }
            _ => {
                self.type_error(
                    value,
                    "companies",
                    "\"all\" or an array of company ids or names",
                );
                None
            }
        }
    }

    /// The sinks as written, each with where it came from; the rules on them are the
    /// engine's ([`Checker::settings`]).
    fn sinks(&mut self, value: &Value<'_>) -> Option<Vec<(Located<String>, Origin)>> {
        let items = self.strings(value, "sinks", "[\"csv:out/{company}-{date}.csv\"]")?;
        if items.is_empty() {
            self.at(
                value.span().start,
                "`sinks` is empty: add at least one, e.g. sinks = [\"csv:out/{company}-{date}.csv\"]",
            );
            return None;
        }
        Some(
            items
                .iter()
                .map(|(sink, item)| {
                    (
                        self.located(item.span().start, sink.clone()),
                        self.origin("sinks", item, Some(sink)),
                    )
                })
                .collect(),
        )
    }

    /// `[job.options.KIND]` tables: each kind's own options, checked by the engine against
    /// what the kind declares.
    fn options(&mut self, value: &Value<'_>) -> Option<Vec<SinkOption>> {
        let example = "a table of tables, e.g. [job.options.csv] with delimiter = \";\"";
        let DeValue::Table(kinds) = value.get_ref() else {
            self.type_error(value, "options", example);
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (kind, names) in kinds.iter() {
            let DeValue::Table(names) = names.get_ref() else {
                self.type_error(names, "options", example);
                ok = false;
                continue;
            };
            for (name, v) in names.iter() {
                let text = match v.get_ref() {
                    DeValue::String(t) => t.to_string(),
                    DeValue::Boolean(b) => b.to_string(),
                    DeValue::Integer(n) => n.to_string(),
                    _ => {
                        self.type_error(v, name.get_ref(), "a string, number or true/false");
                        ok = false;
                        continue;
                    }
                };
                let key = format!("{}.{}", kind.get_ref(), name.get_ref());
                let key_origin = Origin::File {
                    key: key.clone(),
                    offset: name.span().start,
                    plain: false,
                };
                let value_origin = self.origin(&key, v, Some(&text));
                out.push(SinkOption {
                    key: Sourced::new(key, key_origin),
                    value: Sourced::new(text, value_origin),
                    written: None,
                });
            }
        }
        ok.then_some(out)
    }

    /// A job's outputs as the engine's settings.
    fn outputs(
        &self,
        sinks: &[(Located<String>, Origin)],
        options: Vec<SinkOption>,
        header: Option<Header>,
        smtp: Option<&Smtp>,
        email: Option<&Email>,
    ) -> OutputSettings {
        let mut outputs = OutputSettings::new();
        outputs.sinks = sinks
            .iter()
            .map(|(sink, origin)| Sourced::new(sink.value.clone(), origin.clone()))
            .collect();
        outputs.options = options;
        outputs.header = match header {
            Some(Header::Human) => HeaderStyle::Human,
            _ => HeaderStyle::Api,
        };
        if smtp.is_some() {
            // `[smtp]` first, so a job's own `[job.options.email]` wins.
            let mut all = self.smtp_options.clone();
            all.extend(self.email_options.iter().cloned());
            all.append(&mut outputs.options);
            outputs.options = all;
        }
        outputs.recipients_per_company = email.is_some();
        outputs
    }

    fn email(&mut self, key: &Key<'_>, value: &Value<'_>, has_smtp: bool) -> Option<Email> {
        let start = anchor(key, value);
        let DeValue::Table(table) = value.get_ref() else {
            self.type_error(value, "email", "a table ([job.email])");
            return None;
        };
        let keys = self.keys(table, &EMAIL_KEYS, "[job.email]");
        let mut ok = true;
        if !has_smtp {
            ok = false;
            self.at(
                start,
                "[job.email] needs an [smtp] section: add [smtp] with host and from at the top of the file",
            );
        }

        let subject = match entry(table, "subject") {
            Some((_, v)) => match self.string(v, "subject") {
                Some(s) if s.trim().is_empty() => {
                    ok = false;
                    self.at(
                        v.span().start,
                        "`subject` is empty: remove it to use the default subject",
                    );
                    None
                }
                Some(s) => match text::check_subject(&s) {
                    Ok(()) => Some(s),
                    Err((index, message)) => {
                        ok = false;
                        let at = self.inside(v, &s, index);
                        self.at(at, message);
                        None
                    }
                },
                None => {
                    ok = false;
                    None
                }
            },
            None => None,
        };

        let mut list = |key: &str| match entry(table, key) {
            Some((_, v)) => {
                let list = self.addresses(v, key);
                ok &= list.is_some();
                list.unwrap_or_default()
            }
            None => Vec::new(),
        };
        let cc = list("cc");
        let bcc = list("bcc");
        let default = list("default");

        let mut to: Vec<(Located<String>, Vec<String>)> = Vec::new();
        if let Some((_, v)) = entry(table, "to") {
            match v.get_ref() {
                DeValue::Table(companies) => {
                    let mut seen: Vec<Located<String>> = Vec::new();
                    let mut entries: Vec<(&Key<'_>, &Value<'_>)> = companies.iter().collect();
                    entries.sort_by_key(|(k, _)| k.span().start);
                    for (company, recipients) in entries {
                        let name: &str = company.get_ref();
                        let offset = company.span().start;
                        if name.trim().is_empty() {
                            ok = false;
                            self.at(offset, "empty company name in [job.email.to]: write the company's name or id");
                        }
                        let lower = name.to_lowercase();
                        let clash = seen.iter().find(|k| k.value.to_lowercase() == lower);
                        if let Some(first) = clash {
                            ok = false;
                            let message = format!(
                                "{name:?} and {:?} (line {}) name the same company when case is ignored: keep one",
                                first.value, first.line
                            );
                            self.at(offset, message);
                        }
                        seen.push(self.located(offset, name.to_owned()));
                        let label = format!("{name:?}");
                        match self.addresses(recipients, &label) {
                            Some(list) => to.push((self.located(offset, name.to_owned()), list)),
                            None => ok = false,
                        }
                    }
                }
                _ => {
                    ok = false;
                    self.type_error(
                        v,
                        "to",
                        "a table of company = [addresses]: write [job.email.to] then \"Acme Holdings\" = [\"it@acme.example\"]",
                    );
                }
            }
        }

        if ok
            && to.is_empty()
            && default.is_empty()
            && !keys.suggested("to")
            && !keys.suggested("default")
        {
            ok = false;
            self.at(
                start,
                "[job.email] has no recipients: add [job.email.to] with \"Company\" = [\"addr@example\"] entries, or default = [\"addr@example\"]",
            );
        }

        if !ok {
            return None;
        }
        let words = [
            ("subject", subject.clone()),
            ("cc", Some(cc.join(","))),
            ("bcc", Some(bcc.join(","))),
        ];
        for (key, text) in words {
            if let (Some((_, v)), Some(text)) = (entry(table, key), text) {
                let option = self.email_option(key, key, v, text);
                self.email_options.push(option);
            }
        }
        Some(Email {
            subject,
            cc,
            bcc,
            default,
            to,
            line: self.line(start),
        })
    }
}

/// The entry `key` of `table`, with the key's own span.
fn entry<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<(&'a Key<'i>, &'a Value<'i>)> {
    table.iter().find(|(k, _)| k.get_ref() == key)
}

/// Where a table starts: its `[header]`, or its key for `key = { ... }`.
fn anchor(key: &Key<'_>, value: &Value<'_>) -> usize {
    key.span().start.min(value.span().start)
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use keepnet_export_core::sinks::Registry;

    // Both files took tens of seconds when each position was counted from the start of the
    // file and each job name was compared with every earlier one (issue 28, point 12); they
    // are checked here in well under a second.

    #[test]
    fn ten_thousand_jobs_are_checked_in_one_pass() {
        let text: String = (0..10_000)
            .map(|i| {
                format!(
                    "[[job]]\nname = \"job-{i}\"\ncompanies = [\"Acme\"]\nsinks = [\"csv:out/{i}.csv\"]\n\n"
                )
            })
            .collect();
        let file = super::parse(&text, &Registry::builtin()).expect("every job is valid");
        assert_eq!(file.jobs.len(), 10_000);
        assert_eq!(file.jobs[9_999].name, "job-9999");
        assert_eq!(file.jobs[9_999].line, 5 * 9_999 + 1, "each job at its line");
        // A repeated name is still found, with the line of its first use.
        let twice = format!(
            "{text}[[job]]\nname = \"job-17\"\ncompanies = [\"Acme\"]\nsinks = [\"csv:x.csv\"]\n"
        );
        let errors = super::parse(&twice, &Registry::builtin()).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].message.contains("first used on line 87"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn forty_thousand_errors_are_each_placed() {
        let mut text = String::from(
            "[[job]]\nname = \"a\"\ncompanies = [\"Acme\"]\nsinks = [\"csv:a.csv\"]\n",
        );
        for i in 0..40_000 {
            text.push_str(&format!("ünknown{i} = 1\n"));
        }
        let errors = super::parse(&text, &Registry::builtin()).unwrap_err();
        assert_eq!(errors.len(), 40_000);
        for (i, error) in errors.iter().enumerate() {
            assert_eq!((error.line, error.column), (5 + i, 1), "{error}");
        }
        // One line of 40,000 wrong values: each at its own column, in characters.
        let values = vec!["1"; 40_000].join(", ");
        let text = format!("[[job]]\nname = \"a\"\ncompanies = [\"Acme\"]\nsinks = [\"csv:ü.csv\"]\nstatus = [{values}]\n");
        let errors = super::parse(&text, &Registry::builtin()).unwrap_err();
        assert_eq!(errors.len(), 40_000);
        assert_eq!(
            (errors[39_999].line, errors[39_999].column),
            (5, 11 + 3 * 39_999)
        );
    }
}
