//! IEEE 754 half-precision and bfloat16 conversions for the importer.
//!
//! Owns bit-exact conversion of single values only; it must not know about
//! tensors or files. Written here rather than taken from a crate because the
//! importer needs four small functions, exhaustively testable.

/// Decodes an IEEE binary16 value. Every f16 is exactly representable as an f32.
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: value = mant × 2^-24. Normalise the mantissa so its
            // leading 1 lands on bit 10, adjusting the exponent to match.
            let shift = mant.leading_zeros() - 21;
            let mant = (mant << shift) & 0x3ff;
            let exp = 127 - 15 + 1 - shift;
            sign | (exp << 23) | (mant << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (mant << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (mant << 13),
    };
    f32::from_bits(bits)
}

/// Encodes an f32 as IEEE binary16, rounding to nearest, ties to even (what
/// numpy's `astype(float16)` and CTranslate2's converter do). Overflow gives
/// infinity; NaN stays NaN.
pub(crate) fn f32_to_f16(f: f32) -> u16 {
    let bits = f.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let mant = bits & 0x7f_ffff;

    if exp == 0xff {
        let nan_bit = if mant != 0 {
            0x200 | (mant >> 13) as u16
        } else {
            0
        };
        return sign | 0x7c00 | nan_bit;
    }
    let half_exp = exp - 127 + 15;
    if half_exp >= 0x1f {
        return sign | 0x7c00;
    }
    if half_exp <= 0 {
        // Subnormal or zero in f16: shift the full significand (with its
        // implicit 1) right and round what falls off.
        if half_exp < -10 {
            return sign;
        }
        let significand = mant | 0x80_0000;
        let shift = (14 - half_exp) as u32;
        let half = significand >> shift;
        let rem = significand & ((1 << shift) - 1);
        let halfway = 1 << (shift - 1);
        let round_up = rem > halfway || (rem == halfway && half & 1 == 1);
        return sign | (half + u32::from(round_up)) as u16;
    }
    let half = ((half_exp as u32) << 10) | (mant >> 13);
    let rem = mant & 0x1fff;
    let round_up = rem > 0x1000 || (rem == 0x1000 && half & 1 == 1);
    // A carry out of the mantissa correctly bumps the exponent (up to infinity).
    sign | (half + u32::from(round_up)) as u16
}

/// Decodes a bfloat16: the top half of an f32.
pub(crate) fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value an f16 bit pattern denotes, computed from the definition.
    fn f16_value(h: u16) -> f64 {
        let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
        let exp = i32::from((h >> 10) & 0x1f);
        let mant = f64::from(h & 0x3ff);
        match exp {
            0 => sign * mant * 2f64.powi(-24),
            0x1f if mant == 0.0 => sign * f64::INFINITY,
            0x1f => f64::NAN,
            _ => sign * (1.0 + mant / 1024.0) * 2f64.powi(exp - 15),
        }
    }

    #[test]
    fn every_f16_decodes_to_its_defined_value_and_round_trips() {
        for h in 0..=u16::MAX {
            let f = f16_to_f32(h);
            let want = f16_value(h);
            if want.is_nan() {
                assert!(f.is_nan(), "{h:#06x}");
                assert!(f32_to_f16(f) & 0x7c00 == 0x7c00 && f32_to_f16(f) & 0x3ff != 0);
            } else {
                assert_eq!(f64::from(f), want, "{h:#06x}");
                assert_eq!(f32_to_f16(f), h, "{h:#06x} -> {f}");
            }
        }
    }

    #[test]
    fn encoding_rounds_to_nearest_even() {
        // Between 1.0 (0x3c00) and the next f16 (0x3c01) lies 1 + 2^-11.
        let one_ulp = 2f32.powi(-10);
        assert_eq!(
            f32_to_f16(1.0 + one_ulp / 2.0),
            0x3c00,
            "tie rounds to even"
        );
        assert_eq!(
            f32_to_f16(1.0 + one_ulp * 1.5),
            0x3c02,
            "tie rounds to even"
        );
        assert_eq!(f32_to_f16(1.0 + one_ulp * 0.75), 0x3c01);
        assert_eq!(f32_to_f16(65520.0), 0x7c00, "rounds up to infinity");
        assert_eq!(f32_to_f16(65519.0), 0x7bff);
        assert_eq!(
            f32_to_f16(2f32.powi(-25)),
            0x0000,
            "half the smallest subnormal ties to 0"
        );
        assert_eq!(f32_to_f16(2f32.powi(-25) * 1.5), 0x0001);
        assert_eq!(f32_to_f16(-1e-10), 0x8000);
        assert_eq!(f32_to_f16(1e10), 0x7c00);
    }

    #[test]
    fn bf16_is_the_top_half_of_f32() {
        assert_eq!(bf16_to_f32(0x3f80), 1.0);
        assert_eq!(bf16_to_f32(0xc040), -3.0);
    }
}
