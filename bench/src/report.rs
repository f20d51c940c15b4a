//! The table the bench prints: one row per measurement, each with its goal, the measured
//! values side by side, the ratio and whether the goal was met.

use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Met,
    Missed,
    /// Could not be measured; the reason.
    Skipped(String),
}

#[derive(Clone, Debug)]
pub struct Row {
    pub name: String,
    pub goal: String,
    pub mock: String,
    pub other: String,
    pub ratio: String,
    pub verdict: Verdict,
}

impl Row {
    pub fn skipped(
        name: impl Into<String>,
        goal: impl Into<String>,
        why: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            goal: goal.into(),
            mock: "-".into(),
            other: "-".into(),
            ratio: "-".into(),
            verdict: Verdict::Skipped(why.into()),
        }
    }
}

#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn row(&mut self, r: Row) {
        eprintln!(
            "  -> {:<34} {} | {} | {} | {}",
            r.name,
            r.mock,
            r.other,
            r.ratio,
            verdict_text(&r.verdict)
        );
        self.rows.push(r);
    }

    pub fn note(&mut self, n: impl Into<String>) {
        let n = n.into();
        eprintln!("  note: {n}");
        self.notes.push(n);
    }

    pub fn render(&self) -> String {
        let head = ["row", "goal", "mock", "reference", "ratio", "result"];
        let cells: Vec<[String; 6]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.name.clone(),
                    r.goal.clone(),
                    r.mock.clone(),
                    r.other.clone(),
                    r.ratio.clone(),
                    verdict_text(&r.verdict),
                ]
            })
            .collect();
        let mut width = head.map(|h| h.chars().count());
        for row in &cells {
            for (w, c) in width.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, row: &[String]| {
            let mut s = String::from("|");
            for (c, w) in row.iter().zip(width) {
                let pad = w - c.chars().count();
                let _ = write!(s, " {c}{} |", " ".repeat(pad));
            }
            out.push_str(&s);
            out.push('\n');
        };
        line(&mut out, &head.map(String::from));
        let mut sep = String::from("|");
        for w in width {
            sep.push_str(&"-".repeat(w + 2));
            sep.push('|');
        }
        out.push_str(&sep);
        out.push('\n');
        for row in &cells {
            line(&mut out, row);
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        out
    }
}

fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Met => "met".into(),
        Verdict::Missed => "MISSED".into(),
        Verdict::Skipped(why) => format!("skipped: {why}"),
    }
}

/// `1234567.0` -> `1.23M`.
pub fn si(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.1}")
    }
}

pub fn secs(d: std::time::Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub fn ms(d: std::time::Duration) -> String {
    let m = d.as_secs_f64() * 1000.0;
    if m < 10.0 {
        format!("{m:.2} ms")
    } else {
        format!("{m:.0} ms")
    }
}

pub fn met(ok: bool) -> Verdict {
    if ok { Verdict::Met } else { Verdict::Missed }
}
