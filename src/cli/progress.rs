//! Progress of a long pass on stderr: a bar on a terminal, and periodic
//! plain lines otherwise (a log file or a CI job shows no bar, and a silent
//! ten-minute pass looks like a hang). Nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use super::Context;

/// Seconds between two plain progress lines.
const LINE_EVERY: Duration = Duration::from_secs(10);

/// Progress of counted work (`done` of `total` units).
#[derive(Debug)]
pub struct Progress {
    what: &'static str,
    unit: &'static str,
    shown: Shown,
    start: Instant,
    last_line: Instant,
}

#[derive(Debug)]
enum Shown {
    Nothing,
    Bar(indicatif::ProgressBar),
    Lines,
}

impl Progress {
    /// Progress of `what` (e.g. "ranking") counted in `unit`s (e.g. "users").
    pub fn new(ctx: &Context, what: &'static str, unit: &'static str) -> Self {
        let shown = if !ctx.progress() {
            Shown::Nothing
        } else if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(&format!(
                    "{what} {{bar:40}} {{pos}}/{{len}} {unit} ({{per_sec}}, ETA {{eta}})"
                ))
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            Shown::Bar(bar)
        } else {
            Shown::Lines
        };
        let now = Instant::now();
        Progress {
            what,
            unit,
            shown,
            start: now,
            last_line: now,
        }
    }

    /// Records that `done` of `total` units are done.
    pub fn update(&mut self, done: usize, total: usize) {
        match &self.shown {
            Shown::Nothing => {}
            Shown::Bar(bar) => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                if done >= total {
                    bar.finish_and_clear();
                }
            }
            Shown::Lines => {
                let now = Instant::now();
                if done < total && now.duration_since(self.last_line) < LINE_EVERY {
                    return;
                }
                if done >= total && now.duration_since(self.start) < LINE_EVERY {
                    // A pass shorter than one interval needs no line.
                    return;
                }
                self.last_line = now;
                let seconds = now.duration_since(self.start).as_secs_f64();
                eprintln!("{}", self.line(done, total, seconds));
            }
        }
    }

    /// One plain progress line.
    fn line(&self, done: usize, total: usize, seconds: f64) -> String {
        let share = 100.0 * done as f64 / total.max(1) as f64;
        let eta = if done > 0 && done < total {
            format!(
                ", about {:.0} s left",
                seconds * (total - done) as f64 / done as f64
            )
        } else {
            String::new()
        };
        format!(
            "{}: {done}/{total} {} ({share:.0} %) in {seconds:.0} s{eta}",
            self.what, self.unit
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_says_how_far_and_how_long_is_left() {
        let ctx = Context {
            json: false,
            quiet: true,
            primary: true,
        };
        let p = Progress::new(&ctx, "ranking", "users");
        assert_eq!(
            p.line(250, 1000, 10.0),
            "ranking: 250/1000 users (25 %) in 10 s, about 30 s left"
        );
        assert_eq!(
            p.line(1000, 1000, 40.0),
            "ranking: 1000/1000 users (100 %) in 40 s"
        );
    }
}
