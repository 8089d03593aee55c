//! `pandora-ilert man` (hidden): prints the manual page, generated from the clap definition so
//! it cannot drift from `--help`. The packages ship it as
//! `/usr/share/man/man1/pandora-ilert.1.gz`.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_mangen::Man;

use crate::cli::Cli;
use crate::error::AppError;
use crate::exit::Exit;

/// Runs `man`: the page on stdout.
pub fn run() -> Result<Exit, AppError> {
    let page = render().map_err(|e| AppError::Internal(format!("rendering the man page: {e}")))?;
    if let Err(e) = io::stdout().write_all(page.as_bytes()) {
        crate::stdout::gone(&e);
    }
    Ok(Exit::Ok)
}

/// The whole page: the program's sections, then one subsection per visible subcommand
/// (with its options and examples), exit status and files.
pub fn render() -> io::Result<String> {
    // Subcommands are rendered from the unbuilt definition, so that the global options
    // (listed once under OPTIONS) are not repeated under every command.
    let cmd = Cli::command();
    let man = Man::new(cmd.clone());
    let mut page = String::new();
    page += &section(|w| man.render_title(w))?;
    page += &section(|w| man.render_name_section(w))?;
    page += &section(|w| man.render_synopsis_section(w))?;
    page += &section(|w| man.render_description_section(w))?;
    page += &section(|w| man.render_options_section(w))?;
    page += ".SH COMMANDS\n";
    for (path, sub) in visible_subcommands(&cmd, "pandora-ilert") {
        let sub_man = Man::new(sub.clone().bin_name(path.clone()));
        page += &format!(".SS \"{path}\"\n");
        page += &body(|w| sub_man.render_description_section(w))?;
        page += ".PP\n";
        page += &body(|w| sub_man.render_synopsis_section(w))?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            page += &body(|w| sub_man.render_options_section(w))?;
        }
        if sub.get_after_help().is_some() || sub.get_after_long_help().is_some() {
            page += &preformatted(&body(|w| sub_man.render_extra_section(w))?);
        }
    }
    page += ".SH \"EXIT STATUS\"\n";
    page += &preformatted(&body(|w| man.render_extra_section(w))?);
    page += FILES;
    page += &section(|w| man.render_version_section(w))?;
    Ok(page)
}

const FILES: &str = r#".SH FILES
.TP
\fI/etc/pandora-ilert/pandora-ilert.toml\fR
The configuration (keys and tokens; mode 0640). Another file with \fB\-\-config\fR or \fBPANDORA_ILERT_CONFIG\fR.
.TP
\fI/var/spool/pandora-ilert\fR
The state directory: incidents, the durable outbox, dead letters, locks.
.TP
\fI/var/log/pandora-ilert/pandora-ilert.log\fR
The log, rotated by \fI/etc/logrotate.d/pandora-ilert\fR.
.TP
\fI/usr/share/pandora-ilert/pandora/\fR
The Pandora alert command, the default action, the SQL that registers both, the agent plugin block and the console guide.
.SH "SEE ALSO"
\fBpandora-ilert doctor \-\-help\fR, /usr/share/doc/pandora-ilert/README.md
"#;

/// Subcommands a reader should see, depth first, with their full invocation path.
fn visible_subcommands(cmd: &clap::Command, prefix: &str) -> Vec<(String, clap::Command)> {
    let mut out = Vec::new();
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let path = format!("{prefix} {}", sub.get_name());
        if sub.has_subcommands() {
            out.extend(visible_subcommands(sub, &path));
        } else {
            out.push((path, sub.clone()));
        }
    }
    out
}

/// Help texts are laid out by hand (examples, tables): keep their lines as they are.
fn preformatted(roff: &str) -> String {
    format!(".PP\n.nf\n{roff}.fi\n")
}

/// Renders one section with its `.SH` heading.
fn section(render: impl Fn(&mut Vec<u8>) -> io::Result<()>) -> io::Result<String> {
    let mut buf = Vec::new();
    render(&mut buf)?;
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Renders one section without its `.SH` heading (to nest it under a subcommand).
fn body(render: impl Fn(&mut Vec<u8>) -> io::Result<()>) -> io::Result<String> {
    let text = section(render)?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with(".SH "))
        .map(|l| format!("{l}\n"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_documents_every_visible_subcommand_and_the_exit_codes() {
        let page = render().unwrap();
        assert!(page.contains("\n.TH pandora-ilert 1 "), "{}", &page[..120]);
        for sub in [
            "alert",
            "flush",
            "status",
            "requeue",
            "config check",
            "doctor",
        ] {
            assert!(
                page.contains(&format!(".SS \"pandora-ilert {sub}\"")),
                "no section for {sub}"
            );
        }
        assert!(
            !page.contains("pandora-ilert man\""),
            "hidden command shown"
        );
        assert!(page.contains("EXIT STATUS") && page.contains("78"));
        assert!(page.contains("\\-\\-alert\\-id"), "alert options missing");
    }
}
