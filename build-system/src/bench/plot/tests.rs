//! Host tests of the plots: every SVG is well-formed XML (checked by
//! [`well_formed`], a small tag and entity checker the chart tests share), draws
//! the bars and points it is given with their labels, and survives empty,
//! single-row and non-finite data.

use super::*;

/// Checks that `svg` is one `<svg>` element of balanced, properly nested
/// tags with quoted attributes and escaped text; returns the number of
/// elements.
pub(in crate::bench) fn well_formed(svg: &str) -> Result<usize, String> {
    if !svg.starts_with("<svg ") || !svg.trim_end().ends_with("</svg>") {
        return Err("does not start with <svg and end with </svg>".into());
    }
    let mut open: Vec<&str> = Vec::new();
    let mut elements = 0;
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        if open.is_empty() && elements > 0 {
            return Err(format!(
                "content after the root element: {:?}",
                &rest[..start + 1]
            ));
        }
        text_is_escaped(&rest[..start])?;
        let end = start + rest[start..].find('>').ok_or("a tag is not closed")?;
        let tag = &rest[start + 1..end];
        if tag.contains('<') || !tag.matches('"').count().is_multiple_of(2) {
            return Err(format!("malformed tag <{tag}>"));
        }
        if let Some(name) = tag.strip_prefix('/') {
            match open.pop() {
                Some(o) if o == name => {}
                o => return Err(format!("</{name}> closes {o:?}")),
            }
        } else {
            let name = tag.split_whitespace().next().ok_or("an empty tag")?;
            elements += 1;
            if !tag.ends_with('/') {
                open.push(name);
            }
        }
        rest = &rest[end + 1..];
    }
    text_is_escaped(rest)?;
    match open.last() {
        Some(o) => Err(format!("<{o}> is never closed")),
        None => Ok(elements),
    }
}

/// Checks that text between tags has no bare `&` or `>`.
fn text_is_escaped(text: &str) -> Result<(), String> {
    if text.contains('>') {
        return Err(format!("unescaped > in {text:?}"));
    }
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..];
        if !["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
            .iter()
            .any(|e| entity.starts_with(e))
        {
            return Err(format!("bare & in {text:?}"));
        }
    }
    Ok(())
}

/// `svg` checked, and free of numbers that did not format.
fn checked(svg: &str) -> &str {
    if let Err(e) = well_formed(svg) {
        panic!("{e}\n{svg}");
    }
    for bad in ["NaN", "inf"] {
        assert!(!svg.contains(bad), "{bad} in\n{svg}");
    }
    svg
}

fn bars(groups: Vec<Group>) -> BarChart {
    BarChart {
        title: "Round trips".into(),
        note: Some("median of 101".into()),
        axis_label: "guest instructions".into(),
        format: Format::COUNT,
        series: vec!["fast".into(), "slow <path> & co".into()],
        groups,
        references: vec![Reference {
            label: "null syscall".into(),
            value: 515.0,
        }],
    }
}

fn bar(series: usize, value: f64) -> Bar {
    Bar {
        series,
        value,
        range: None,
    }
}

fn figure(chart: Chart) -> String {
    Figure {
        title: "bench test on x86_64".into(),
        charts: vec![chart],
    }
    .to_svg()
}

#[test]
fn the_checker_refuses_broken_documents() {
    assert_eq!(well_formed(r#"<svg a="1"><g><rect/></g></svg>"#), Ok(3));
    for bad in [
        "<svg a=\"1\"><g></svg>",
        "<svg a=\"1\"></g></svg>",
        "<svg a=\"1\"><text>a & b</text></svg>",
        "<svg a=\"1\"><text>a > b</text></svg>",
        "<svg a=\"1\"><rect x=\"1/></svg>",
        "<svg a=\"1\"></svg><svg a=\"1\"></svg>",
        "<g></g>",
    ] {
        assert!(well_formed(bad).is_err(), "{bad}");
    }
}

#[test]
fn grouped_bars_draw_every_bar_with_its_labels() {
    let chart = bars(vec![
        Group {
            label: "same address space, 0 words".into(),
            bars: vec![bar(0, 1076.0), bar(1, 1826.0)],
        },
        Group {
            label: "xas-passive, 0 words".into(),
            bars: vec![bar(0, 468.0), bar(1, 1659.0)],
        },
        Group {
            label: "xas-passive-cold, 0 words".into(),
            bars: vec![Bar {
                series: 0,
                value: 604.0,
                range: Some((600.0, 700.0)),
            }],
        },
    ]);
    let svg = figure(Chart::Bars(chart));
    let svg = checked(&svg);
    assert_eq!(svg.matches(r#"class="bar""#).count(), 5);
    for label in [
        "bench test on x86_64",
        "Round trips",
        "median of 101",
        "guest instructions",
        "xas-passive-cold, 0 words",
        "1,076",
        "1,826",
        "604",
        "null syscall (515)",
        "slow &lt;path&gt; &amp; co",
    ] {
        assert!(svg.contains(label), "{label} missing");
    }
    assert!(svg.contains("stroke-dasharray"), "the reference line");
}

#[test]
fn empty_single_and_non_finite_bars_do_not_break_the_chart() {
    let svg = figure(Chart::Bars(bars(Vec::new())));
    assert!(checked(&svg).contains("no data"));
    let one = vec![Group {
        label: "only".into(),
        bars: vec![bar(0, 0.0)],
    }];
    assert_eq!(
        figure(Chart::Bars(bars(one)))
            .matches(r#"class="bar""#)
            .count(),
        1
    );
    let odd = vec![
        Group {
            label: "unmeasured".into(),
            bars: vec![bar(0, f64::NAN), bar(7, f64::INFINITY)],
        },
        Group {
            label: "no bars".into(),
            bars: Vec::new(),
        },
        Group {
            label: "below zero".into(),
            bars: vec![bar(1, -3.5)],
        },
    ];
    let svg = figure(Chart::Bars(bars(odd)));
    assert_eq!(checked(&svg).matches(r#"class="bar""#).count(), 1);
    assert!(svg.contains("n/a"));
    let empty = Figure {
        title: "nothing".into(),
        charts: Vec::new(),
    };
    checked(&empty.to_svg());
}

fn lines(series: Vec<Series>) -> LineChart {
    LineChart {
        title: "Revoke".into(),
        note: None,
        x_label: "N".into(),
        y_label: "instructions".into(),
        x_scale: Scale::Log,
        y_scale: Scale::Log,
        format: Format::COUNT,
        series,
    }
}

#[test]
fn line_charts_draw_the_points_a_log_axis_can_show() {
    let svg = figure(Chart::Lines(lines(vec![
        Series {
            name: "whole revoke".into(),
            points: vec![(1.0, 1395.0), (100.0, 54063.0), (100000.0, 53212699.0)],
        },
        Series {
            name: "longest stretch".into(),
            points: vec![(0.0, 834.0), (1.0, 834.0), (100.0, 838.0), (1e5, -1.0)],
        },
    ])));
    let svg = checked(&svg);
    assert_eq!(svg.matches(r#"class="point""#).count(), 5);
    assert_eq!(svg.matches("<polyline").count(), 2);
    for label in [
        "whole revoke",
        "longest stretch",
        "53,212,699",
        "838",
        "100M",
        ">10k<",
    ] {
        assert!(svg.contains(label), "{label} missing");
    }
}

#[test]
fn empty_and_single_point_line_charts_do_not_break() {
    for scale in [Scale::Log, Scale::Linear] {
        let mut chart = lines(Vec::new());
        chart.y_scale = scale;
        assert!(checked(&figure(Chart::Lines(chart.clone()))).contains("no data"));
        chart.series.push(Series {
            name: "one".into(),
            points: vec![(10.0, 838.0)],
        });
        let svg = figure(Chart::Lines(chart));
        assert_eq!(checked(&svg).matches(r#"class="point""#).count(), 1);
        assert!(!svg.contains("<polyline"));
    }
}

#[test]
fn values_and_ticks_are_written_for_reading() {
    assert_eq!(Format::COUNT.full(53212699.0), "53,212,699");
    assert_eq!(Format::COUNT.full(-1234.4), "-1,234");
    let percent = Format {
        decimals: 2,
        suffix: "%",
    };
    assert_eq!(percent.full(50.045), "50.05%");
    assert_eq!(percent.full(f64::NAN), "n/a");
    assert_eq!(Format::tick(50_000.0, 10_000.0), "50k");
    assert_eq!(Format::tick(1.5e6, 5e5), "1.5M");
    assert_eq!(Format::tick(2000.0, 500.0), "2,000");
    assert_eq!(Format::tick(0.4, 0.2), "0.4");
    assert_eq!(Format::tick(0.25, 0.05), "0.25");
}

#[test]
fn axes_end_at_round_values() {
    let axis = Axis::fit(Scale::Linear, [468.0, 1826.0].into_iter(), 0.0, 100.0);
    assert_eq!((axis.lo, axis.hi), (0.0, 2000.0));
    assert_eq!(axis.ticks.len(), 5);
    let axis = Axis::fit(Scale::Linear, [-3.0, 7.0].into_iter(), 0.0, 100.0);
    assert_eq!((axis.lo, axis.hi, axis.step), (-4.0, 8.0, Some(2.0)));
    let axis = Axis::fit(Scale::Log, [834.0, 53212699.0, 0.0].into_iter(), 0.0, 100.0);
    assert_eq!((axis.lo, axis.hi, axis.ticks.len()), (100.0, 1e8, 7));
    let axis = Axis::fit(Scale::Log, [1000.0].into_iter(), 0.0, 100.0);
    assert_eq!((axis.lo, axis.hi), (100.0, 10000.0));
    assert_eq!(axis.px(1000.0), 50.0);
}
