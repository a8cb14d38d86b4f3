//! Whether a read of a company's users may be published.
//!
//! A sweep is one read of every page. When its rows disagree with the server's own figures
//! (a total that changed, users served twice, an empty page before the records ran out, a page
//! count too low for the records) the outputs are discarded and every page is read again, up
//! to [`MAX_SWEEPS`] sweeps, until one sweep is self-consistent. If none is, the run fails
//! (exit 7) and publishes nothing, unless `--allow-incomplete` asked to publish the last sweep
//! anyway, marked incomplete. A stream (stdout, a FIFO) cannot be taken back, so a run writing
//! one is never read again: an inconsistent sweep fails it at once.

use keepnet_api::PagingReport;

use crate::exit::{self, Failure};
use crate::origin::Origin;

/// Sweeps over every page before an inconsistent read is given up on.
pub const MAX_SWEEPS: u32 = 3;

/// What to do with a finished sweep.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Self-consistent: publish.
    Complete,
    /// Inconsistent, published because of `--allow-incomplete`: the warning to give.
    Incomplete(String),
    /// Inconsistent: discard the outputs and read every page again; why, for the log.
    Again(String),
}

/// Judges sweep number `sweep` (from 1). `stream` names an output that cannot be taken back
/// (then the read is not repeated). `allowed` is where publishing an incomplete read was
/// allowed, when it was (`--allow-incomplete`, `allow_incomplete = true`).
pub fn judge(
    report: &PagingReport,
    sweep: u32,
    stream: Option<&str>,
    allowed: Option<&Origin>,
) -> Result<Verdict, Failure> {
    let found = report.inconsistencies();
    if found.is_empty() {
        return Ok(Verdict::Complete);
    }
    let reasons = found
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if stream.is_none() && sweep < MAX_SWEEPS {
        return Ok(Verdict::Again(reasons));
    }
    let seen = match sweep {
        1 => reasons,
        n => format!("in each of {n} reads of every page, the last: {reasons}"),
    };
    if let Some(origin) = allowed {
        return Ok(Verdict::Incomplete(format!(
            "the export is incomplete: {seen}; published anyway{}",
            crate::names::Names::because(origin)
        )));
    }
    let what = match stream {
        Some(target) => format!(
            "the rows already streamed to {target} cannot be taken back, so the users were not \
             read again, and no file was published"
        ),
        None => "nothing was published and earlier files were kept".to_owned(),
    };
    Err(Failure::msg(
        exit::INCOMPLETE,
        format!(
            "the export is incomplete: the users read disagree with the server's own figures: \
             {seen}; {what}. Run again later, or allow an incomplete export to publish what was \
             read, marked incomplete"
        ),
    )
    .with_setting(Some(keepnet_sink::Setting::AllowIncomplete)))
}

#[cfg(test)]
mod tests {
    use super::{judge, Verdict, MAX_SWEEPS};
    use crate::origin::Origin;
    use keepnet_api::PagingReport;

    fn short() -> PagingReport {
        PagingReport {
            first_total: 250,
            last_total: 250,
            users: 200,
            served: 200,
            short_page_count: Some((2, 3)),
            ..PagingReport::default()
        }
    }

    #[test]
    fn a_consistent_read_is_published_at_once() {
        let complete = PagingReport {
            users: 250,
            served: 250,
            ..short()
        };
        assert_eq!(judge(&complete, 1, None, None).unwrap(), Verdict::Complete);
    }

    #[test]
    fn an_inconsistent_read_is_repeated_then_fails_or_is_published_marked() {
        for sweep in 1..MAX_SWEEPS {
            let again = judge(&short(), sweep, None, None).unwrap();
            assert!(matches!(&again, Verdict::Again(why) if why.contains("announced 2 page(s)")));
        }
        let failed = judge(&short(), MAX_SWEEPS, None, None).unwrap_err();
        assert_eq!(failed.code(), 7);
        let text = failed.to_string();
        assert!(text.contains("each of 3 reads"), "{text}");
        assert!(text.contains("nothing was published"), "{text}");
        assert_eq!(
            failed.setting(),
            Some(keepnet_sink::Setting::AllowIncomplete),
            "the front end names the setting that publishes it anyway"
        );
        assert!(!text.contains("--"), "the engine spells no flag: {text}");
        let flag = Origin::Flag("--allow-incomplete".into());
        let allowed = judge(&short(), MAX_SWEEPS, None, Some(&flag)).unwrap();
        assert!(
            matches!(&allowed, Verdict::Incomplete(why) if why.contains("200 users were read")
                && why.ends_with("published anyway (--allow-incomplete)"))
        );
        let file = Origin::File {
            key: "allow_incomplete".into(),
            offset: 0,
            plain: false,
        };
        let allowed = judge(&short(), MAX_SWEEPS, None, Some(&file)).unwrap();
        assert!(
            matches!(&allowed, Verdict::Incomplete(why) if why.ends_with("(allow_incomplete = true)")),
            "{allowed:?}"
        );
    }

    #[test]
    fn a_stream_is_never_read_twice() {
        let failed = judge(&short(), 1, Some("stdout"), None).unwrap_err();
        assert!(
            failed.to_string().contains("cannot be taken back"),
            "{failed}"
        );
        assert!(matches!(
            judge(&short(), 1, Some("stdout"), Some(&Origin::Default)).unwrap(),
            Verdict::Incomplete(_)
        ));
    }
}
