//! 8-bit block quantization (ggml's `q8_0`) of weight rows, for importing a
//! model as whisper.cpp's `quantize` tool would write it.
//!
//! It owns the one call into ggml's quantizer and the buffer arithmetic that
//! makes it safe. It must not know about files, tensor names or which tensors
//! get quantized: the importer decides that. ggml's own routine is used rather
//! than a port so the bytes are exactly those `quantize` writes (the
//! reference, deterministic `quantize_row_q8_0_ref`: per 32 values, an f16
//! scale `max|x| / 127` and 32 `int8` values `round(x / scale)`).
//!
//! ggml is the copy that whisper-rs-sys compiles and links for the engine.
//! whisper-rs re-exports its bindings only behind the `raw-api` feature, so
//! the two functions needed are declared here, copied from the vendored
//! `ggml/include/ggml.h`.

use std::ffi::c_void;

use crate::model_file::TensorType;

// ggml's own quantizer and row sizes, from the ggml that whisper-rs-sys
// builds, through its generated bindings.
use whisper_rs::whisper_rs_sys::{
    ggml_quantize_chunk, ggml_row_size, ggml_type_GGML_TYPE_Q8_0 as GGML_TYPE_Q8_0,
};

/// Quantizes whole rows of `n_per_row` values to q8_0 and appends the blocks
/// to `out` (`values.len() / 32` blocks of 34 bytes).
///
/// The caller guarantees `n_per_row` is a non-zero multiple of 32 and
/// `values` holds whole rows; the importer checks both while planning, so a
/// violation is a bug and panics rather than handing ggml bad bounds.
pub(crate) fn q8_0_rows(values: &[f32], n_per_row: usize, out: &mut Vec<u8>) {
    let ty = TensorType::Q8_0;
    assert!(
        n_per_row > 0
            && (n_per_row as u64).is_multiple_of(ty.block_size())
            && values.len().is_multiple_of(n_per_row),
        "q8_0 needs whole rows of whole blocks ({} values in rows of {n_per_row})",
        values.len()
    );
    let n_rows = values.len() / n_per_row;
    let bytes = ty
        .data_size(n_per_row as u64, values.len() as u64)
        .and_then(|b| usize::try_from(b).ok())
        .unwrap_or_else(|| unreachable!("checked above: whole blocks of a slice in memory"));
    let (Ok(rows), Ok(per_row)) = (i64::try_from(n_rows), i64::try_from(n_per_row)) else {
        unreachable!("slice lengths fit in i64");
    };

    let start = out.len();
    out.resize(start + bytes, 0);
    let dst = &mut out[start..];
    // SAFETY: the declarations above match ggml.h of the linked ggml, and
    // `ggml_row_size` only reads ggml's static type table.
    let row_size = unsafe { ggml_row_size(GGML_TYPE_Q8_0, per_row) };
    assert_eq!(
        row_size.checked_mul(n_rows),
        Some(bytes),
        "ggml's q8_0 row size disagrees with TensorType's block layout"
    );
    // SAFETY: ggml reads `rows * per_row` f32 values from `src`, exactly
    // `values`, and writes `rows * ggml_row_size(Q8_0, per_row)` bytes to
    // `dst`, which was just checked to be `dst.len()`. q8_0 takes no
    // importance matrix, so null is allowed; it needs no `ggml_quantize_init`
    // (ggml_quantize_chunk calls it anyway). `start` is 0, which satisfies its
    // alignment asserts. The buffers do not overlap and ggml keeps no pointer
    // after returning.
    let written = unsafe {
        ggml_quantize_chunk(
            GGML_TYPE_Q8_0,
            values.as_ptr(),
            dst.as_mut_ptr().cast::<c_void>(),
            0,
            rows,
            per_row,
            std::ptr::null(),
        )
    };
    assert_eq!(written, bytes, "ggml wrote a different q8_0 size");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::half::f16_to_f32;

    const BLOCK: usize = 32;
    const BLOCK_BYTES: usize = 34;

    /// Reads q8_0 blocks by the layout in ggml-common.h (`block_q8_0`: an
    /// f16 scale `d`, then 32 `int8` quants), independently of ggml.
    fn dequantize(blocks: &[u8]) -> Vec<(f32, Vec<f32>, Vec<i8>)> {
        blocks
            .chunks_exact(BLOCK_BYTES)
            .map(|b| {
                let scale = f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
                let quants: Vec<i8> = b[2..].iter().map(|&q| q as i8).collect();
                let values = quants.iter().map(|&q| f32::from(q) * scale).collect();
                (scale, values, quants)
            })
            .collect()
    }

    /// Deterministic values spanning several magnitudes, signs, a zero block
    /// and a block whose largest value is negative.
    fn sample_rows(n_rows: usize, n_per_row: usize) -> Vec<f32> {
        let mut state = 0x2545_f491_u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32) * 2.0 - 1.0
        };
        let mut values: Vec<f32> = (0..n_rows * n_per_row)
            .map(|i| {
                let magnitude = [1e-4, 0.02, 0.5, 3.0][(i / BLOCK) % 4];
                next() * magnitude
            })
            .collect();
        values[BLOCK * 5..BLOCK * 6].fill(0.0);
        values[BLOCK * 7 + 3] = -9.0;
        values
    }

    #[test]
    fn quantized_rows_dequantize_within_half_a_step() {
        let n_per_row = 384;
        let values = sample_rows(3, n_per_row);
        let mut out = vec![0xaa]; // appending must keep what is there
        q8_0_rows(&values, n_per_row, &mut out);
        assert_eq!(out[0], 0xaa);
        let blocks = &out[1..];
        assert_eq!(blocks.len(), values.len() / BLOCK * BLOCK_BYTES);

        for (i, (scale, restored, quants)) in dequantize(blocks).into_iter().enumerate() {
            let original = &values[i * BLOCK..(i + 1) * BLOCK];
            let amax = original.iter().fold(0f32, |m, v| m.max(v.abs()));
            if amax == 0.0 {
                assert_eq!(scale, 0.0, "block {i}");
                assert!(quants.iter().all(|&q| q == 0), "block {i}");
                continue;
            }
            // The scale is d = max|x| / 127 rounded to f16: off by at most
            // 2^-11 relative, or 2^-25 absolute where d is subnormal in f16
            // (the 1e-4 blocks). The largest value maps to ±127.
            let exact = amax / 127.0;
            let scale_err = (exact * 2f32.powi(-11)).max(2f32.powi(-25));
            assert!(
                (scale - exact).abs() <= scale_err,
                "block {i}: scale {scale} for max {amax}"
            );
            assert_eq!(
                quants.iter().map(|q| q.unsigned_abs()).max(),
                Some(127),
                "block {i}"
            );
            // Rounding to a quant costs at most half a step of d; storing d
            // as f16 adds up to 127 × its error (plus f32 slack).
            let bound = exact / 2.0 + 127.0 * scale_err + exact * 1e-5;
            for (j, (x, y)) in original.iter().zip(&restored).enumerate() {
                assert!(
                    (x - y).abs() <= bound,
                    "block {i} value {j}: {x} came back as {y} (bound {bound})"
                );
            }
        }
    }

    #[test]
    fn the_declared_type_id_is_ggml_s_q8_0() {
        // ggml.h: GGML_TYPE_Q8_0 = 8. TensorType's ids are checked against
        // ggml's table in model_file; this ties the FFI constant to them.
        assert_eq!(GGML_TYPE_Q8_0, TensorType::Q8_0.ggml_id());
        // whisper.cpp's quantize writes GGML_QNT_VERSION (2) * 1000 +
        // GGML_FTYPE_MOSTLY_Q8_0 (7).
        assert_eq!(
            crate::model_file::stored_ftype(TensorType::Q8_0),
            Some(2007)
        );
    }
}
