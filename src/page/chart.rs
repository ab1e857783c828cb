//! Small line charts as SVG text, for the loss and accuracy curves.
//!
//! Pure functions of numbers and labels, so they are tested natively and render the same in every
//! browser; exported as `.svg` files as they are. Every label is XML-escaped: rule text and names
//! typed by users end up here.

use std::fmt::Write as _;

/// One curve.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// CSS colour.
    pub color: String,
    /// `(x, y)` points in x order. Non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
    /// A dot on every point (sweeps: one dot per finished run or cell).
    pub markers: bool,
    /// A shaded band `(x, low, high)` behind the curve, e.g. the spread over seeds; empty for none.
    pub band: Vec<(f64, f64, f64)>,
}

/// A line chart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// The curves.
    pub series: Vec<Series>,
    /// Fixed y range (e.g. 0 to 1 for accuracy); `None` fits the data.
    pub y_range: Option<(f64, f64)>,
    /// Logarithmic x axis (rule counts).
    pub log_x: bool,
    /// Named x ticks `(x, label)` in place of numeric ones (a sweep over semantic families, say).
    pub x_labels: Vec<(f64, String)>,
    /// A second line of text under some x ticks (what a sweep's point learned, say).
    pub x_notes: Vec<(f64, String)>,
}

/// Escapes text for SVG/XML content and attribute values.
pub fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// About `count` round tick values covering `[min, max]` (steps of 1, 2, 2.5 or 5 times a power of
/// ten).
pub fn nice_ticks(min: f64, max: f64, count: usize) -> Vec<f64> {
    if !(min.is_finite() && max.is_finite()) || max <= min || count == 0 {
        return vec![min];
    }
    let raw = (max - min) / count as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (min / step).ceil() * step;
    (0..)
        .map(|i| first + i as f64 * step)
        .take_while(|v| *v <= max + step * 1e-9)
        .collect()
}

fn format_tick(value: f64) -> String {
    if value != 0.0 && (value.abs() >= 10_000.0 || value.abs() < 0.01) {
        format!("{value:.0e}")
    } else if (value - value.round()).abs() < 1e-9 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.2}");
        text.trim_end_matches('0').to_string()
    }
}

const MARGIN_LEFT: f64 = 44.0;
const MARGIN_RIGHT: f64 = 12.0;
const MARGIN_TOP: f64 = 28.0;
const MARGIN_BOTTOM: f64 = 40.0;

/// Where a chart's data sit in its pixels: the ranges shown and the plot's size.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Frame {
    x_min: f64,
    x_max: f64,
    y_min: f64,
    y_max: f64,
    plot_w: f64,
    plot_h: f64,
    log_x: bool,
}

impl Frame {
    /// The pixel column of an x value.
    fn sx(&self, x: f64) -> f64 {
        let x = if self.log_x { x.log10() } else { x };
        MARGIN_LEFT + (x - self.x_min) / (self.x_max - self.x_min) * self.plot_w
    }

    /// The pixel row of a y value.
    fn sy(&self, y: f64) -> f64 {
        MARGIN_TOP + (1.0 - (y - self.y_min) / (self.y_max - self.y_min)) * self.plot_h
    }
}

/// The values of a chart at one x: what the page shows under the pointer or at the focused point.
#[derive(Clone, Debug, PartialEq)]
pub struct Readout {
    /// The x value.
    pub x: f64,
    /// Its pixel column in a chart of the size asked for.
    pub px: f64,
    /// Each series with a point there: its name, colour and y value.
    pub values: Vec<(String, String, f64)>,
}

impl Readout {
    /// In words: `step 1200: seen rules 0.62, unseen rules 0.31`.
    pub fn text(&self, x_label: &str) -> String {
        let values: Vec<String> = self
            .values
            .iter()
            .map(|(name, _, y)| format!("{name} {}", format_value(*y)))
            .collect();
        format!("{x_label} {}: {}", format_value(self.x), values.join(", "))
    }
}

/// A value in a readout: whole numbers as they are, others to three significant places.
fn format_value(value: f64) -> String {
    if (value - value.round()).abs() < 1e-9 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else if value.abs() >= 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

impl LineChart {
    /// Every x value with a point, in order, once each: the places a keyboard steps through.
    pub fn x_values(&self) -> Vec<f64> {
        let mut xs: Vec<f64> = self.points().map(|(x, _)| x).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        xs
    }

    /// The values at `x` (each series' point with that x), placed in a chart of this size.
    pub fn readout(&self, width: f64, height: f64, x: f64) -> Option<Readout> {
        let frame = self.frame(width, height)?;
        let values: Vec<(String, String, f64)> = self
            .series
            .iter()
            .filter_map(|s| {
                let (_, y) = s
                    .points
                    .iter()
                    .find(|(px, py)| *px == x && py.is_finite())?;
                Some((s.name.clone(), s.color.clone(), *y))
            })
            .collect();
        (!values.is_empty()).then(|| Readout {
            x,
            px: frame.sx(x),
            values,
        })
    }

    /// The values at the x with a point nearest pixel column `px` of a chart of this size: what the
    /// page shows under the pointer.
    pub fn readout_near(&self, width: f64, height: f64, px: f64) -> Option<Readout> {
        let frame = self.frame(width, height)?;
        let x = self.x_values().into_iter().min_by(|a, b| {
            (frame.sx(*a) - px)
                .abs()
                .total_cmp(&(frame.sx(*b) - px).abs())
        })?;
        self.readout(width, height, x)
    }

    /// The frame of a chart of this size, `None` when it has no point to show.
    fn frame(&self, width: f64, height: f64) -> Option<Frame> {
        let points: Vec<(f64, f64)> = self.points().collect();
        if points.is_empty() {
            return None;
        }
        let fold = |f: fn(f64, f64) -> f64, init: f64, pick: fn(&(f64, f64)) -> f64| {
            points.iter().map(pick).fold(init, f)
        };
        let (mut x_min, mut x_max) = (
            self.x_value(fold(f64::min, f64::INFINITY, |p| p.0)),
            self.x_value(fold(f64::max, f64::NEG_INFINITY, |p| p.0)),
        );
        let (y_min, mut y_max) = self.y_range.unwrap_or((
            fold(f64::min, f64::INFINITY, |p| p.1).min(0.0),
            fold(f64::max, f64::NEG_INFINITY, |p| p.1),
        ));
        if x_max <= x_min {
            x_min -= 0.5;
            x_max += 0.5;
        }
        if y_max <= y_min {
            y_max = y_min + 1.0;
        }
        Some(Frame {
            x_min,
            x_max,
            y_min,
            y_max,
            plot_w: width - MARGIN_LEFT - MARGIN_RIGHT,
            plot_h: height - MARGIN_TOP - MARGIN_BOTTOM,
            log_x: self.log_x,
        })
    }

    fn points(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|(x, y)| x.is_finite() && y.is_finite() && (!self.log_x || *x > 0.0))
    }

    fn x_value(&self, x: f64) -> f64 {
        if self.log_x { x.log10() } else { x }
    }

    /// The chart as a standalone SVG document of the given size in pixels.
    pub fn to_svg(&self, width: f64, height: f64) -> String {
        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{title}" font-family="system-ui, sans-serif" font-size="11">"#,
            title = escape_xml(&self.title)
        );
        let _ = write!(
            svg,
            r#"<rect width="{width}" height="{height}" fill="white"/><text x="{MARGIN_LEFT}" y="16" font-size="13" font-weight="600">{}</text>"#,
            escape_xml(&self.title)
        );
        let Some(frame) = self.frame(width, height) else {
            let _ = write!(
                svg,
                r##"<text x="{}" y="{}" text-anchor="middle" fill="#555">no data yet</text></svg>"##,
                MARGIN_LEFT + (width - MARGIN_LEFT - MARGIN_RIGHT) / 2.0,
                MARGIN_TOP + (height - MARGIN_TOP - MARGIN_BOTTOM) / 2.0
            );
            return svg;
        };
        let Frame {
            x_min,
            x_max,
            y_min,
            y_max,
            plot_w,
            plot_h,
            ..
        } = frame;
        let sx = |x: f64| frame.sx(x);
        let sy = |y: f64| frame.sy(y);

        // Axes and grid.
        for tick in nice_ticks(y_min, y_max, 4) {
            let y = sy(tick);
            let _ = write!(
                svg,
                r##"<line x1="{MARGIN_LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
                MARGIN_LEFT + plot_w,
                MARGIN_LEFT - 4.0,
                y + 4.0,
                format_tick(tick)
            );
        }
        let x_ticks: Vec<f64> = if self.log_x {
            // Every power of ten inside the range.
            let (first, last) = ((x_min - 1e-9).ceil() as i32, (x_max + 1e-9).floor() as i32);
            (first..=last).map(|decade| 10f64.powi(decade)).collect()
        } else {
            nice_ticks(x_min, x_max, 5)
        };
        let x_ticks: Vec<(f64, String)> = if self.x_labels.is_empty() {
            x_ticks.into_iter().map(|t| (t, format_tick(t))).collect()
        } else {
            self.x_labels.clone()
        };
        for (tick, label) in x_ticks {
            let x = sx(tick);
            let _ = write!(
                svg,
                r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
                MARGIN_TOP + plot_h + 14.0,
                escape_xml(&label)
            );
        }
        for (x, note) in &self.x_notes {
            if !(x.is_finite() && (!self.log_x || *x > 0.0)) {
                continue;
            }
            // Kept inside the chart: a note wider than the room left at either edge is anchored to
            // that edge (about 5 units a character at this size).
            let half = 2.5 * note.chars().count() as f64;
            let (at, anchor) = match sx(*x) {
                px if px + half > width - 1.0 => (width - 1.0, "end"),
                px if px - half < 1.0 => (1.0, "start"),
                px => (px, "middle"),
            };
            let _ = write!(
                svg,
                r##"<text class="note" x="{at:.1}" y="{:.1}" text-anchor="{anchor}" font-size="9" fill="#444">{}</text>"##,
                MARGIN_TOP + plot_h + 24.0,
                escape_xml(note)
            );
        }
        let _ = write!(
            svg,
            r##"<line x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT}" y1="{MARGIN_TOP}" y2="{}" stroke="#999"/><line x1="{MARGIN_LEFT}" x2="{}" y1="{}" y2="{}" stroke="#999"/><text x="{}" y="{}" text-anchor="middle" fill="#333">{}</text>"##,
            MARGIN_TOP + plot_h,
            MARGIN_LEFT + plot_w,
            MARGIN_TOP + plot_h,
            MARGIN_TOP + plot_h,
            MARGIN_LEFT + plot_w / 2.0,
            height - 6.0,
            escape_xml(&self.x_label)
        );

        // Bands first, so every curve is drawn over every band.
        for series in &self.series {
            let band: Vec<(f64, f64, f64)> = series
                .band
                .iter()
                .copied()
                .filter(|(x, lo, hi)| {
                    x.is_finite() && lo.is_finite() && hi.is_finite() && (!self.log_x || *x > 0.0)
                })
                .collect();
            if band.len() < 2 {
                continue;
            }
            // Along the top edge, then back along the bottom edge.
            let outline: Vec<String> = band
                .iter()
                .map(|&(x, _, hi)| (x, hi))
                .chain(band.iter().rev().map(|&(x, lo, _)| (x, lo)))
                .map(|(x, y)| format!("{:.1},{:.1}", sx(x), sy(y.clamp(y_min, y_max))))
                .collect();
            let _ = write!(
                svg,
                r#"<polygon class="band" fill="{}" fill-opacity="0.18" stroke="none" points="{}"/>"#,
                escape_xml(&series.color),
                outline.join(" ")
            );
        }

        // Curves and legend.
        let mut legend_x = MARGIN_LEFT + plot_w;
        for series in self.series.iter().rev() {
            let path: Vec<String> = series
                .points
                .iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite() && (!self.log_x || *x > 0.0))
                .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y.clamp(y_min, y_max))))
                .collect();
            let color = escape_xml(&series.color);
            if path.len() > 1 {
                let _ = write!(
                    svg,
                    r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
                    path.join(" ")
                );
            }
            if path.len() == 1 || series.markers {
                for point in &path {
                    let (x, y) = point.split_once(',').expect("formatted as x,y");
                    let _ = write!(
                        svg,
                        r#"<circle class="marker" cx="{x}" cy="{y}" r="3.5" fill="{color}"/>"#
                    );
                }
            }
            let label = escape_xml(&series.name);
            legend_x -= 14.0 + 6.5 * series.name.chars().count() as f64;
            let _ = write!(
                svg,
                r#"<rect x="{legend_x:.1}" y="8" width="10" height="10" fill="{color}"/><text x="{:.1}" y="17">{label}</text>"#,
                legend_x + 13.0
            );
        }
        svg.push_str("</svg>");
        svg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_readout_gives_every_series_at_the_x_nearest_the_pointer() {
        let chart = LineChart {
            title: "accuracy".into(),
            x_label: "step".into(),
            series: vec![
                Series {
                    name: "seen".into(),
                    color: "green".into(),
                    points: vec![(0.0, 0.1), (100.0, 0.5), (200.0, 0.9)],
                    ..Series::default()
                },
                Series {
                    name: "unseen".into(),
                    color: "red".into(),
                    points: vec![(100.0, 0.2), (200.0, 0.3)],
                    ..Series::default()
                },
            ],
            y_range: Some((0.0, 1.0)),
            ..LineChart::default()
        };
        assert_eq!(chart.x_values(), [0.0, 100.0, 200.0]);
        let (w, h) = (400.0, 200.0);
        let at_100 = chart.readout(w, h, 100.0).unwrap();
        assert_eq!(at_100.values.len(), 2);
        assert_eq!(at_100.text("step"), "step 100: seen 0.500, unseen 0.200");
        // The plot spans MARGIN_LEFT to w - MARGIN_RIGHT: x = 100 sits in its middle.
        assert!((at_100.px - (MARGIN_LEFT + (w - MARGIN_LEFT - MARGIN_RIGHT) / 2.0)).abs() < 1e-9);
        assert_eq!(chart.readout_near(w, h, at_100.px + 20.0).unwrap().x, 100.0);
        assert_eq!(chart.readout_near(w, h, 0.0).unwrap().x, 0.0);
        assert_eq!(chart.readout_near(w, h, w).unwrap().values.len(), 2);
        assert_eq!(
            chart.readout(w, h, 0.0).unwrap().values.len(),
            1,
            "only seen has x = 0"
        );
        assert!(LineChart::default().readout_near(w, h, 10.0).is_none());
    }

    fn chart(points: Vec<(f64, f64)>) -> LineChart {
        LineChart {
            title: "Accuracy".into(),
            x_label: "step".into(),
            series: vec![Series {
                name: "unseen rules".into(),
                color: "#d62728".into(),
                points,
                ..Series::default()
            }],
            y_range: Some((0.0, 1.0)),
            ..LineChart::default()
        }
    }

    /// The value of the first `points="..."` attribute in `svg`.
    fn first_points(svg: &str) -> &str {
        svg.split("points=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a points attribute")
    }

    #[test]
    fn markers_bands_and_named_ticks() {
        let mut c = chart(vec![(4.0, 0.1), (16.0, 0.2), (64.0, 0.6)]);
        c.series[0].markers = true;
        c.series[0].band = vec![(4.0, 0.0, 0.2), (16.0, 0.1, 0.3), (64.0, 0.5, 0.7)];
        c.x_labels = vec![(4.0, "four".into()), (64.0, "<b>".into())];
        let svg = c.to_svg(400.0, 200.0);
        assert_eq!(svg.matches("class=\"marker\"").count(), 3);
        let band = svg.split("class=\"band\"").nth(1).unwrap();
        // Three points along the top and three back along the bottom.
        assert_eq!(first_points(band).split(' ').count(), 6);
        assert!(svg.contains(">four<") && svg.contains("&lt;b&gt;"));
        assert!(
            !svg.contains(">16<"),
            "named ticks replace the numeric ones"
        );
    }

    #[test]
    fn notes_under_the_axis_stay_inside_the_chart() {
        let mut c = chart(vec![(4.0, 0.1), (16.0, 0.2), (1024.0, 0.6)]);
        c.log_x = true;
        let note = "not learned yet at all";
        c.x_notes = vec![
            (4.0, note.into()),
            (16.0, "x".into()),
            (1024.0, note.into()),
        ];
        let width = 300.0;
        let svg = c.to_svg(width, 200.0);
        let notes: Vec<(f64, &str)> = svg
            .split("<text class=\"note\" x=\"")
            .skip(1)
            .map(|rest| {
                let x = rest.split('"').next().unwrap().parse().unwrap();
                let anchor = rest.split("text-anchor=\"").nth(1).unwrap();
                (x, anchor.split('"').next().unwrap())
            })
            .collect();
        assert_eq!(notes.len(), 3, "{svg}");
        // The long note at the right edge ends inside it; the short one in the middle is centred.
        assert_eq!(notes[2].1, "end");
        assert!(notes[2].0 <= width);
        assert_eq!(notes[1].1, "middle");
        // Extent of each note, about 5 units a character: within [0, width].
        for ((x, anchor), text) in notes.iter().zip([note, "x", note]) {
            let w = 5.0 * text.len() as f64;
            let (left, right) = match *anchor {
                "end" => (x - w, *x),
                "start" => (*x, x + w),
                _ => (x - w / 2.0, x + w / 2.0),
            };
            assert!(left >= 0.0 && right <= width, "{text} at {x} ({anchor})");
        }
    }

    #[test]
    fn labels_are_escaped_never_markup() {
        let mut c = chart(vec![(0.0, 0.5), (1.0, 0.7)]);
        c.title = "<script>alert(1)</script>".into();
        c.series[0].name = "\"><img onerror=x>".into();
        let svg = c.to_svg(300.0, 200.0);
        assert!(!svg.contains("<script>"));
        assert!(!svg.contains("<img"));
        assert!(svg.contains("&lt;script&gt;"));
    }

    #[test]
    fn one_polyline_vertex_per_finite_point() {
        let svg = chart(vec![(0.0, 0.1), (10.0, f64::NAN), (20.0, 0.4), (30.0, 0.9)])
            .to_svg(300.0, 200.0);
        assert_eq!(first_points(&svg).split(' ').count(), 3);
    }

    #[test]
    fn empty_chart_says_so() {
        assert!(chart(vec![]).to_svg(300.0, 200.0).contains("no data yet"));
        assert!(
            chart(vec![(5.0, 0.5)])
                .to_svg(300.0, 200.0)
                .contains("<circle")
        );
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(nice_ticks(0.0, 1.0, 4), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(
            nice_ticks(0.0, 4000.0, 5),
            vec![0.0, 1000.0, 2000.0, 3000.0, 4000.0]
        );
        assert_eq!(format_tick(0.25), "0.25");
        assert_eq!(format_tick(1000.0), "1000");
    }

    #[test]
    fn log_axis_places_decades_evenly() {
        let mut c = chart(vec![(4.0, 0.05), (16.0, 0.1), (256.0, 0.4), (1024.0, 0.7)]);
        c.log_x = true;
        let svg = c.to_svg(400.0, 200.0);
        for decade in [">10<", ">100<", ">1000<"] {
            assert!(svg.contains(decade), "missing tick {decade}");
        }
    }
}
