//! `coffer completions SHELL` and `coffer man`: shell completions and man pages, generated
//! from the command-line definitions themselves (clap_complete, clap_mangen), so they
//! never disagree with `--help`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, CommandFactory};

/// Arguments of `coffer completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Arguments of `coffer man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `coffer.1` and one page per subcommand (`coffer-import.1`, ...) into this
    /// directory instead of printing `coffer.1` on stdout.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Prints the completion script for `args.shell` on stdout.
pub fn completions<C: CommandFactory>(args: &CompletionsArgs) -> Result<i32> {
    let mut command = C::command();
    clap_complete::generate(args.shell, &mut command, "coffer", &mut std::io::stdout());
    Ok(0)
}

/// Prints `coffer.1`, or writes every page into `args.dir`.
pub fn man<C: CommandFactory>(args: &ManArgs) -> Result<i32> {
    let command = C::command();
    match &args.dir {
        None => match clap_mangen::Man::new(command).render(&mut std::io::stdout()) {
            // `coffer man | head`: the reader stopped reading.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.context("writing the man page")?,
        },
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            write_pages(&command, "coffer", dir)?;
            crate::outln!("man pages written to {}", dir.display());
        }
    }
    Ok(0)
}

fn write_pages(command: &clap::Command, name: &str, dir: &Path) -> Result<()> {
    let command = command.clone().name(name.to_string());
    let path = dir.join(format!("{name}.1"));
    let mut file =
        std::fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?;
    clap_mangen::Man::new(command.clone())
        .render(&mut file)
        .with_context(|| format!("writing {}", path.display()))?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}
