//! Aligned text tables for the commands that print for people (`models`, `stats`, `check`):
//! columns as wide as their widest cell, numbers right-aligned, the header in bold and a
//! cell's tone (good, bad) in colour when the output is a terminal. Colour is added after the
//! padding, so the codes never upset the alignment.

use crate::util::colour::Colour;

/// How a cell reads: the colour it gets on a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Plain,
    Good,
    Bad,
}

/// The table's lines, each ending with a newline; a column whose header starts with `>` is
/// right-aligned. `tone` says how the cell in column `i` with this text reads.
pub(crate) fn render(
    headers: &[&str],
    rows: &[Vec<String>],
    colour: Colour,
    tone: impl Fn(usize, &str) -> Tone,
) -> String {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .chain([h.trim_start_matches('>').chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<(String, Tone)>, bold: bool| {
        let last = cells.len().saturating_sub(1);
        let parts: Vec<String> = cells
            .iter()
            .zip(headers)
            .zip(&widths)
            .enumerate()
            .map(|(i, (((cell, tone), header), width))| {
                let padded = if header.starts_with('>') {
                    format!("{cell:>width$}")
                } else if i == last {
                    // The last column is not padded: no spaces at the end of a line.
                    cell.clone()
                } else {
                    format!("{cell:<width$}")
                };
                match (bold, tone) {
                    (true, _) => colour.bold(&padded),
                    (false, Tone::Good) => colour.green(&padded),
                    (false, Tone::Bad) => colour.red(&padded),
                    (false, Tone::Plain) => padded,
                }
            })
            .collect();
        format!("{}\n", parts.join("  "))
    };
    let mut out = line(
        headers
            .iter()
            .map(|h| (h.trim_start_matches('>').to_string(), Tone::Plain))
            .collect(),
        true,
    );
    for row in rows {
        let cells = row
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), tone(i, c)))
            .collect();
        out.push_str(&line(cells, false));
    }
    out
}

/// No cell has a tone.
pub(crate) fn plain(_: usize, _: &str) -> Tone {
    Tone::Plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_numbers_go_right() {
        let rows = vec![
            vec!["a".to_string(), "1,234".to_string(), "ok".to_string()],
            vec![
                "long name".to_string(),
                "5".to_string(),
                "refused".to_string(),
            ],
        ];
        let text = render(&["name", ">count", "state"], &rows, Colour::off(), plain);
        assert_eq!(
            text,
            "name       count  state\na          1,234  ok\nlong name      5  refused\n"
        );
    }

    #[test]
    fn tones_colour_only_their_cells_after_padding() {
        let rows = vec![vec!["k".to_string(), "ok".to_string()]];
        let tone = |i: usize, c: &str| {
            if i == 1 && c == "ok" {
                Tone::Good
            } else {
                Tone::Plain
            }
        };
        let text = render(&["key", "state"], &rows, Colour::on(), tone);
        let body = text.lines().nth(1).unwrap();
        assert_eq!(body, "k    \x1b[32mok\x1b[0m");
        assert!(
            text.starts_with("\x1b[1mkey\x1b[0m  \x1b[1mstate\x1b[0m\n"),
            "{text:?}"
        );
    }
}
