//! The tray's own icons, drawn in code: one small picture per
//! [`TrayState`] at the sizes panels use, so the tray looks right on a
//! desktop without an icon theme. Plain shapes (a microphone, a spinner
//! ring, a record dot, lines of text, an exclamation mark), anti-aliased by
//! supersampling. Each picture is drawn once, the first time it is asked
//! for, and kept.

use std::sync::OnceLock;

use super::TrayState;

/// The sizes drawn, in pixels (square): 22 is the classic panel size, 32 for
/// larger or HiDPI panels; hosts pick the closest and scale.
pub const SIZES: [u32; 2] = [22, 32];

/// A square picture in ARGB32: four bytes per pixel, alpha, red, green, blue
/// (network byte order, as StatusNotifierItem's `IconPixmap` wants them),
/// not premultiplied, rows top to bottom.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pixmap {
    pub width: u32,
    pub height: u32,
    pub argb: Vec<u8>,
}

/// The pictures for `state`, one per size in [`SIZES`].
pub fn pixmaps(state: TrayState) -> &'static [Pixmap] {
    static CACHE: [OnceLock<Vec<Pixmap>>; 6] = [const { OnceLock::new() }; 6];
    let index = match state {
        TrayState::Idle => 0,
        TrayState::Loading => 1,
        TrayState::Recording => 2,
        TrayState::Transcribing => 3,
        TrayState::Error => 4,
        TrayState::NoModel => 5,
    };
    CACHE[index].get_or_init(|| {
        let layers = layers(state);
        SIZES.iter().map(|&size| render(&layers, size)).collect()
    })
}

type Rgba = [u8; 4];

const GREY: Rgba = [0x9a, 0x99, 0x96, 0xff];
const BLUE: Rgba = [0x35, 0x84, 0xe4, 0xff];
const RED: Rgba = [0xe0, 0x1b, 0x24, 0xff];
const DARK_RED: Rgba = [0xa5, 0x1d, 0x2d, 0xff];
const GREEN: Rgba = [0x26, 0xa2, 0x69, 0xff];
const WHITE: Rgba = [0xff, 0xff, 0xff, 0xff];
const AMBER: Rgba = [0xe5, 0xa5, 0x0a, 0xff];

/// A shape in unit coordinates: (0, 0) is the top left corner of the icon,
/// (1, 1) the bottom right.
#[derive(Clone, Copy, Debug)]
enum Shape {
    Circle {
        cx: f32,
        cy: f32,
        r: f32,
    },
    /// A rectangle with rounded corners of radius `r`.
    RoundRect {
        x0: f32,
        y0: f32,
        x1: f32,
        y1: f32,
        r: f32,
    },
    /// The lower half of a ring (a microphone's holder).
    LowerHalfRing {
        cx: f32,
        cy: f32,
        r_out: f32,
        r_in: f32,
    },
    /// A ring with a gap where the angle (radians, from +x, clockwise on
    /// screen) lies in `gap`.
    OpenRing {
        cx: f32,
        cy: f32,
        r_out: f32,
        r_in: f32,
        gap: (f32, f32),
    },
}

impl Shape {
    fn contains(self, x: f32, y: f32) -> bool {
        match self {
            Shape::Circle { cx, cy, r } => (x - cx).powi(2) + (y - cy).powi(2) <= r * r,
            Shape::RoundRect { x0, y0, x1, y1, r } => {
                if x < x0 || x > x1 || y < y0 || y > y1 {
                    return false;
                }
                // Distance into the corner regions only.
                let dx = (x0 + r - x).max(x - (x1 - r)).max(0.0);
                let dy = (y0 + r - y).max(y - (y1 - r)).max(0.0);
                dx * dx + dy * dy <= r * r
            }
            Shape::LowerHalfRing {
                cx,
                cy,
                r_out,
                r_in,
            } => {
                let d2 = (x - cx).powi(2) + (y - cy).powi(2);
                y >= cy && d2 <= r_out * r_out && d2 >= r_in * r_in
            }
            Shape::OpenRing {
                cx,
                cy,
                r_out,
                r_in,
                gap,
            } => {
                let d2 = (x - cx).powi(2) + (y - cy).powi(2);
                let angle = (y - cy).atan2(x - cx);
                d2 <= r_out * r_out && d2 >= r_in * r_in && !(gap.0..=gap.1).contains(&angle)
            }
        }
    }
}

/// The picture of `state`, bottom layer first.
fn layers(state: TrayState) -> Vec<(Shape, Rgba)> {
    let microphone = |colour: Rgba| {
        vec![
            (
                Shape::RoundRect {
                    x0: 0.36,
                    y0: 0.06,
                    x1: 0.64,
                    y1: 0.58,
                    r: 0.14,
                },
                colour,
            ),
            (
                Shape::LowerHalfRing {
                    cx: 0.5,
                    cy: 0.40,
                    r_out: 0.30,
                    r_in: 0.21,
                },
                colour,
            ),
            (
                Shape::RoundRect {
                    x0: 0.455,
                    y0: 0.66,
                    x1: 0.545,
                    y1: 0.86,
                    r: 0.0,
                },
                colour,
            ),
            (
                Shape::RoundRect {
                    x0: 0.28,
                    y0: 0.83,
                    x1: 0.72,
                    y1: 0.93,
                    r: 0.04,
                },
                colour,
            ),
        ]
    };
    match state {
        TrayState::Idle => microphone(GREY),
        TrayState::Loading => vec![(
            Shape::OpenRing {
                cx: 0.5,
                cy: 0.5,
                r_out: 0.43,
                r_in: 0.28,
                gap: (-1.9, -0.6),
            },
            BLUE,
        )],
        TrayState::Recording => vec![(
            Shape::Circle {
                cx: 0.5,
                cy: 0.5,
                r: 0.40,
            },
            RED,
        )],
        TrayState::Transcribing => {
            let line = |y: f32, x1: f32| {
                (
                    Shape::RoundRect {
                        x0: 0.24,
                        y0: y,
                        x1,
                        y1: y + 0.10,
                        r: 0.03,
                    },
                    WHITE,
                )
            };
            vec![
                (
                    Shape::RoundRect {
                        x0: 0.08,
                        y0: 0.08,
                        x1: 0.92,
                        y1: 0.92,
                        r: 0.16,
                    },
                    GREEN,
                ),
                line(0.26, 0.76),
                line(0.45, 0.76),
                line(0.64, 0.58),
            ]
        }
        // The idle microphone with an amber badge: something to set up.
        TrayState::NoModel => {
            let mut layers = microphone(GREY);
            layers.extend([
                (
                    Shape::Circle {
                        cx: 0.74,
                        cy: 0.74,
                        r: 0.26,
                    },
                    AMBER,
                ),
                (
                    Shape::RoundRect {
                        x0: 0.70,
                        y0: 0.56,
                        x1: 0.78,
                        y1: 0.78,
                        r: 0.03,
                    },
                    WHITE,
                ),
                (
                    Shape::Circle {
                        cx: 0.74,
                        cy: 0.88,
                        r: 0.045,
                    },
                    WHITE,
                ),
            ]);
            layers
        }
        TrayState::Error => vec![
            (
                Shape::Circle {
                    cx: 0.5,
                    cy: 0.5,
                    r: 0.45,
                },
                DARK_RED,
            ),
            (
                Shape::RoundRect {
                    x0: 0.435,
                    y0: 0.18,
                    x1: 0.565,
                    y1: 0.60,
                    r: 0.05,
                },
                WHITE,
            ),
            (
                Shape::Circle {
                    cx: 0.5,
                    cy: 0.75,
                    r: 0.075,
                },
                WHITE,
            ),
        ],
    }
}

/// Samples per pixel along each axis (16 per pixel).
const SUPERSAMPLE: u32 = 4;

fn render(layers: &[(Shape, Rgba)], size: u32) -> Pixmap {
    let mut argb = Vec::with_capacity((size * size * 4) as usize);
    let step = 1.0 / (size * SUPERSAMPLE) as f32;
    for py in 0..size {
        for px in 0..size {
            // Premultiplied sums, so edges blend towards the shape's own
            // colour rather than towards black.
            let (mut a, mut r, mut g, mut b) = (0u32, 0u32, 0u32, 0u32);
            for sy in 0..SUPERSAMPLE {
                for sx in 0..SUPERSAMPLE {
                    let x = ((px * SUPERSAMPLE + sx) as f32 + 0.5) * step;
                    let y = ((py * SUPERSAMPLE + sy) as f32 + 0.5) * step;
                    if let Some((_, c)) = layers.iter().rev().find(|(s, _)| s.contains(x, y)) {
                        let alpha = u32::from(c[3]);
                        a += alpha;
                        r += u32::from(c[0]) * alpha;
                        g += u32::from(c[1]) * alpha;
                        b += u32::from(c[2]) * alpha;
                    }
                }
            }
            let samples = SUPERSAMPLE * SUPERSAMPLE;
            let channel = |sum: u32| sum.checked_div(a).unwrap_or(0) as u8;
            argb.extend_from_slice(&[(a / samples) as u8, channel(r), channel(g), channel(b)]);
        }
    }
    Pixmap {
        width: size,
        height: size,
        argb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixel(p: &Pixmap, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * p.width + x) * 4) as usize;
        [p.argb[i], p.argb[i + 1], p.argb[i + 2], p.argb[i + 3]]
    }

    #[test]
    fn every_state_has_every_size_and_they_differ() {
        let mut seen = Vec::new();
        for state in TrayState::ALL {
            let maps = pixmaps(state);
            assert_eq!(maps.len(), SIZES.len());
            for (map, size) in maps.iter().zip(SIZES) {
                assert_eq!((map.width, map.height), (size, size));
                assert_eq!(map.argb.len(), (size * size * 4) as usize);
                // Something is drawn, and the corners are transparent.
                assert!(map.argb.chunks(4).any(|p| p[0] == 0xff), "{state:?} {size}");
                assert_eq!(pixel(map, 0, 0)[0], 0, "{state:?} {size}");
            }
            assert!(
                !seen.contains(&maps[1].argb),
                "{state:?} looks like another state"
            );
            seen.push(maps[1].argb.clone());
        }
    }

    #[test]
    fn recording_is_a_red_dot_and_error_has_a_white_mark() {
        let rec = &pixmaps(TrayState::Recording)[1];
        assert_eq!(pixel(rec, 16, 16), [0xff, RED[0], RED[1], RED[2]]);
        let err = &pixmaps(TrayState::Error)[1];
        // The exclamation mark's bar is white, the circle around it red.
        assert_eq!(pixel(err, 16, 12), [0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            pixel(err, 8, 16),
            [0xff, DARK_RED[0], DARK_RED[1], DARK_RED[2]]
        );
    }
}
