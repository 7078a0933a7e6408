//! Imports a CTranslate2 (faster-whisper) Whisper model directory as a
//! whisper.cpp GGML model file.
//!
//! It owns the conversion: reading `model.bin` (see [`ct2`]), mapping its
//! variables to whisper.cpp's tensors, the vocabulary ([`vocab`]) and mel
//! filters ([`mel`]), and writing the result atomically. It must not decide
//! where models live or register them in the catalog: callers pass the
//! destination path and get an [`ImportReport`] back.
//!
//! The mapping follows whisper.cpp's `convert-pt-to-ggml.py` and its loader:
//! CTranslate2 fuses Q, K and V (self-attention) and K, V (cross-attention)
//! along the output axis, so those are split by rows; whisper.cpp's key
//! projections have no bias, so the fused K bias is dropped (adding a constant
//! per query to every attention logit leaves the softmax unchanged, so this is
//! exact even if a converter stored a non-zero one). Biases, norms and
//! positional embeddings are stored as f32, everything else as f16.
//!
//! Optionally ([`WeightFormat::Q8_0`]) the matrices are quantized to q8_0
//! ([`quantize`]) on the way, giving the file whisper.cpp's `quantize` tool
//! makes from the f16 one: the same tensors quantized by the same ggml code.
//!
//! Memory stays bounded whatever the model size: the source is indexed by
//! seeking over tensor data, then tensors are streamed through 1 MiB buffers
//! (whole rows at a time when quantizing).

pub mod mel;

mod ct2;
mod half;
mod quantize;
mod vocab;

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use thiserror::Error;

use crate::model_file::{self, Hparams, ModelFileError, TensorType};

use ct2::Dtype;

const MODEL_BIN: &str = "model.bin";
const CONFIG_JSON: &str = "config.json";
const VOCABULARY_TXT: &str = "vocabulary.txt";
const TOKENIZER_JSON: &str = "tokenizer.json";

const CHUNK_BYTES: usize = 1 << 20;

/// How the imported file stores the big matrices (biases, norms, positional
/// embeddings and convolution kernels keep their types either way).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// Half precision, what `convert-pt-to-ggml.py` writes by default.
    #[default]
    F16,
    /// 8-bit blocks, what whisper.cpp's `quantize … q8_0` writes: about half
    /// the size, usually faster on CPUs, nearly the same accuracy.
    Q8_0,
}

impl WeightFormat {
    pub fn tensor_type(self) -> TensorType {
        match self {
            WeightFormat::F16 => TensorType::F16,
            WeightFormat::Q8_0 => TensorType::Q8_0,
        }
    }
}

/// Why a directory could not be imported. Whatever the reason, nothing is left
/// at the destination and no temporary file remains.
#[derive(Debug, Error)]
pub enum ImportError {
    #[error("{path} is not a directory; point the import at a CTranslate2 (faster-whisper) model directory")]
    NotADirectory { path: PathBuf },
    #[error("{dir} is not a CTranslate2 Whisper model directory: {file} is missing")]
    MissingFile { dir: PathBuf, file: &'static str },
    #[error("{dir} is not a CTranslate2 Whisper model directory: it has neither vocabulary.txt nor tokenizer.json")]
    MissingVocabulary { dir: PathBuf },
    #[error("could not read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a valid model configuration: {detail}")]
    BadConfig { path: PathBuf, detail: String },
    #[error("{path} is not a CTranslate2 model file: {detail}")]
    NotCt2 { path: PathBuf, detail: String },
    #[error(
        "{path} is incomplete: {detail}. The download or copy was cut short; fetch the model again"
    )]
    Truncated { path: PathBuf, detail: String },
    #[error("{path} is a CTranslate2 model but not a Whisper model: {detail}")]
    NotWhisper { path: PathBuf, detail: String },
    #[error(
        "{path} is a quantized CTranslate2 model ('{variable}' is {dtype}); only float16 or float32 \
         models can be imported: convert it again with --quantization float16 (EZ Flow can then \
         quantize it itself with --quantize q8_0)"
    )]
    Quantized {
        path: PathBuf,
        variable: String,
        dtype: &'static str,
    },
    #[error("{path} cannot be stored as {format}: '{tensor}' has rows of {width} values, not a whole number of {format} blocks; import it without quantization")]
    NotQuantizable {
        path: PathBuf,
        tensor: String,
        width: u32,
        format: TensorType,
    },
    #[error("{path} has inconsistent shapes: {detail}")]
    Inconsistent { path: PathBuf, detail: String },
    #[error("{path} is not a usable Whisper vocabulary: {detail}")]
    BadVocabulary { path: PathBuf, detail: String },
    #[error("{path} already exists; refusing to overwrite it (remove it, or import with --force to replace it)")]
    AlreadyExists { path: PathBuf },
    #[error("cannot write the imported model to {path}: {detail}")]
    Destination { path: PathBuf, detail: String },
    #[error("writing {path} failed: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "the converted model failed its own consistency check (a bug in EZ Flow's importer): {0}"
    )]
    SelfCheck(#[source] ModelFileError),
}

/// How far an import has got, in bytes of the output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportProgress {
    pub bytes_written: u64,
    pub bytes_total: u64,
}

/// Choices for [`import_ct2_dir`].
#[derive(Default, Clone, Copy)]
pub struct ImportOptions<'a> {
    /// Replace an existing file at the destination (atomically) instead of failing.
    pub force: bool,
    /// How to store the weight matrices.
    pub weights: WeightFormat,
    /// Called after each tensor is written.
    pub progress: Option<&'a dyn Fn(ImportProgress)>,
}

impl std::fmt::Debug for ImportOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportOptions")
            .field("force", &self.force)
            .field("weights", &self.weights)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// What an import produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub dest: PathBuf,
    /// A catalog-style id derived from the dimensions and weight format, such
    /// as `tiny.en`, `base` or `tiny.en-q8_0`.
    pub model_id: String,
    /// The written model's hyperparameters (vocabulary size, mel bands, layer counts…).
    pub hparams: Hparams,
    pub english_only: bool,
    /// The storage type of the source weights (`float16`, `float32`, `bfloat16`).
    pub source_dtype: &'static str,
    /// The storage type of the written weight matrices (f16 or q8_0).
    pub weight_type: TensorType,
    /// Ordinary BPE tokens written (whisper.cpp adds the special ones itself).
    pub token_count: usize,
    pub tensor_count: usize,
    pub bytes_written: u64,
}

/// The catalog-style id (`tiny.en`, `base`, `tiny.en-q8_0`, …) that importing
/// the CTranslate2 model in `src` as `weights` would produce, read from its
/// headers alone.
pub fn suggested_id(src: &Path, weights: WeightFormat) -> Result<String, ImportError> {
    let source = SourceDir::open(src)?;
    let model = ct2::Model::index(&source.model_bin)?;
    Ok(derive_hparams(&model, weights)?.suggested_model_id())
}

/// Converts the CTranslate2 Whisper model in `src` (a directory holding
/// `model.bin`, `config.json` and `vocabulary.txt` or `tokenizer.json`) into a
/// whisper.cpp model file at `dest`.
///
/// The file is written to a temporary file beside `dest`, synced, checked with
/// [`model_file::inspect`], and only then moved into place, so `dest` either
/// appears complete or not at all. An existing `dest` is an error unless
/// `options.force` is set.
pub fn import_ct2_dir(
    src: &Path,
    dest: &Path,
    options: ImportOptions<'_>,
) -> Result<ImportReport, ImportError> {
    let source = SourceDir::open(src)?;
    let dest_dir = check_destination(dest, options.force)?;

    let model = ct2::Model::index(&source.model_bin)?;
    let hparams = derive_hparams(&model, options.weights)?;
    let plan = plan_tensors(&model, &hparams, options.weights)?;
    let vocabulary = source.read_vocabulary(&hparams)?;
    let filters = mel::slaney_filter_bank(
        model_file::SAMPLE_RATE,
        model_file::N_FFT,
        hparams.n_mels as usize,
    );
    let source_dtype = model
        .variables
        .get("decoder/embeddings/weight")
        .map_or("unknown", |v| v.dtype.name());

    let bytes_total = 4 * 12
        + 8
        + 4 * filters.len() as u64
        + 4
        + vocabulary
            .tokens
            .iter()
            .map(|t| 4 + t.len() as u64)
            .sum::<u64>()
        + plan.iter().map(PlannedTensor::file_bytes).sum::<u64>();

    let (temp, file) = TempFile::create(&dest_dir, dest)?;
    let bytes_written = write_model(
        file,
        &temp.path,
        &model,
        &hparams,
        &filters,
        &vocabulary.tokens,
        &plan,
        bytes_total,
        &options,
    )?;
    if bytes_written != bytes_total {
        return Err(ImportError::SelfCheck(ModelFileError::Invalid {
            path: temp.path.clone(),
            detail: format!("{bytes_written} bytes were written where {bytes_total} were planned"),
        }));
    }
    let info = model_file::inspect(&temp.path).map_err(ImportError::SelfCheck)?;
    if info.hparams != hparams || info.file_size != bytes_total {
        return Err(ImportError::SelfCheck(ModelFileError::Invalid {
            path: temp.path.clone(),
            detail: "the written header does not match the converted model".to_string(),
        }));
    }
    temp.commit(dest, options.force)?;
    ezflow_config::atomic_file::sync_dir(&dest_dir);

    let report = ImportReport {
        dest: dest.to_path_buf(),
        model_id: hparams.suggested_model_id(),
        hparams,
        english_only: !hparams.is_multilingual(),
        source_dtype,
        weight_type: options.weights.tensor_type(),
        token_count: vocabulary.tokens.len(),
        tensor_count: plan.len(),
        bytes_written,
    };
    tracing::info!(
        src = %src.display(),
        dest = %dest.display(),
        model = %report.model_id,
        bytes = report.bytes_written,
        "imported CTranslate2 model"
    );
    Ok(report)
}

/// The files of a CTranslate2 model directory, checked for presence.
struct SourceDir {
    dir: PathBuf,
    model_bin: PathBuf,
    vocabulary_txt: Option<PathBuf>,
    tokenizer_json: Option<PathBuf>,
}

impl SourceDir {
    fn open(dir: &Path) -> Result<Self, ImportError> {
        if !dir.is_dir() {
            return Err(ImportError::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        let file = |name: &'static str| {
            let path = dir.join(name);
            path.is_file().then_some(path)
        };
        let model_bin = file(MODEL_BIN).ok_or_else(|| ImportError::MissingFile {
            dir: dir.to_path_buf(),
            file: MODEL_BIN,
        })?;
        let config = file(CONFIG_JSON).ok_or_else(|| ImportError::MissingFile {
            dir: dir.to_path_buf(),
            file: CONFIG_JSON,
        })?;
        let vocabulary_txt = file(VOCABULARY_TXT);
        let tokenizer_json = file(TOKENIZER_JSON);
        if vocabulary_txt.is_none() && tokenizer_json.is_none() {
            return Err(ImportError::MissingVocabulary {
                dir: dir.to_path_buf(),
            });
        }
        check_config(&config)?;
        Ok(SourceDir {
            dir: dir.to_path_buf(),
            model_bin,
            vocabulary_txt,
            tokenizer_json,
        })
    }

    fn read_vocabulary(&self, h: &Hparams) -> Result<vocab::Vocabulary, ImportError> {
        let (path, vocabulary) = match (&self.vocabulary_txt, &self.tokenizer_json) {
            (Some(path), _) => (path, vocab::from_vocabulary_txt(path)?),
            (None, Some(path)) => (path, vocab::from_tokenizer_json(path)?),
            (None, None) => {
                return Err(ImportError::MissingVocabulary {
                    dir: self.dir.clone(),
                })
            }
        };
        let n_vocab = h.n_vocab as usize;
        if let Some(total) = vocabulary.total_entries {
            if total != n_vocab {
                return Err(ImportError::BadVocabulary {
                    path: path.clone(),
                    detail: format!(
                        "it lists {total} tokens but model.bin has {n_vocab} token embeddings (files from different models?)"
                    ),
                });
            }
        }
        if vocabulary.tokens.len() >= n_vocab {
            return Err(ImportError::BadVocabulary {
                path: path.clone(),
                detail: format!(
                    "its {} ordinary tokens leave no room for the special tokens in a {n_vocab}-token model",
                    vocabulary.tokens.len()
                ),
            });
        }
        Ok(vocabulary)
    }
}

/// `config.json` holds nothing the GGML file needs (the dimensions come from
/// the weights), but a directory without a sane one is not a model directory.
fn check_config(path: &Path) -> Result<(), ImportError> {
    let text = fs::read(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    match serde_json::from_slice::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => Err(ImportError::BadConfig {
            path: path.to_path_buf(),
            detail: "it is not a JSON object".to_string(),
        }),
        Err(e) => Err(ImportError::BadConfig {
            path: path.to_path_buf(),
            detail: format!("it is not valid JSON ({e})"),
        }),
    }
}

/// Checks the destination before any work; returns the directory it lies in.
fn check_destination(dest: &Path, force: bool) -> Result<PathBuf, ImportError> {
    let dest_err = |detail: &str| ImportError::Destination {
        path: dest.to_path_buf(),
        detail: detail.to_string(),
    };
    if dest.file_name().is_none() {
        return Err(dest_err("it does not name a file"));
    }
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(dest_err(&format!(
            "the directory {} does not exist",
            dir.display()
        )));
    }
    match fs::symlink_metadata(dest) {
        Ok(meta) if meta.is_dir() => Err(dest_err("it is a directory")),
        Ok(_) if !force => Err(ImportError::AlreadyExists {
            path: dest.to_path_buf(),
        }),
        _ => Ok(dir),
    }
}

// ---------------------------------------------------------------------------
// Mapping CTranslate2 variables to whisper.cpp tensors.

fn not_whisper(model: &ct2::Model, detail: String) -> ImportError {
    ImportError::NotWhisper {
        path: model.path.clone(),
        detail,
    }
}

fn inconsistent(model: &ct2::Model, detail: String) -> ImportError {
    ImportError::Inconsistent {
        path: model.path.clone(),
        detail,
    }
}

fn variable<'m>(model: &'m ct2::Model, name: &str) -> Result<&'m ct2::Variable, ImportError> {
    model
        .variables
        .get(name)
        .ok_or_else(|| not_whisper(model, format!("it has no variable '{name}'")))
}

fn dims_of<const N: usize>(model: &ct2::Model, name: &str) -> Result<[u32; N], ImportError> {
    let v = variable(model, name)?;
    <[u32; N]>::try_from(v.dims.as_slice()).map_err(|_| {
        inconsistent(
            model,
            format!("'{name}' has shape {:?}, expected {N} dimensions", v.dims),
        )
    })
}

fn scalar(model: &ct2::Model, name: &str) -> Result<u32, ImportError> {
    let v = variable(model, name)?;
    match (v.dtype.is_float(), v.scalar) {
        (false, Some(value)) => u32::try_from(value)
            .map_err(|_| inconsistent(model, format!("'{name}' is {value}, which is not a count"))),
        _ => Err(inconsistent(
            model,
            format!("'{name}' is not an integer scalar"),
        )),
    }
}

fn count_layers(model: &ct2::Model, side: &str) -> u32 {
    let mut n = 0;
    while model
        .variables
        .contains_key(&format!("{side}/layer_{n}/self_attention/linear_0/weight"))
    {
        n += 1;
    }
    n
}

/// Reads the model's dimensions off its weights, as whisper.cpp's converters
/// take them from the PyTorch checkpoint's `dims`.
fn derive_hparams(model: &ct2::Model, weights: WeightFormat) -> Result<Hparams, ImportError> {
    if !model.spec.contains("Whisper") {
        let spec = if model.spec.is_empty() {
            "an unnamed"
        } else {
            &model.spec
        };
        return Err(not_whisper(
            model,
            format!("its model spec is {spec}, not WhisperSpec"),
        ));
    }
    let [n_vocab, n_text_state] = dims_of(model, "decoder/embeddings/weight")?;
    let [n_text_ctx, text_pos_width] = dims_of(model, "decoder/position_encodings/encodings")?;
    let [n_audio_ctx, n_audio_state] = dims_of(model, "encoder/position_encodings/encodings")?;
    let [conv_out, n_mels, kernel] = dims_of(model, "encoder/conv1/weight")?;
    if text_pos_width != n_text_state || conv_out != n_audio_state || kernel != 3 {
        return Err(inconsistent(
            model,
            format!(
                "the decoder is {n_text_state} wide but its positions {text_pos_width}; the encoder is \
                 {n_audio_state} wide but its first convolution {conv_out} (kernel {kernel}, expected 3)"
            ),
        ));
    }
    let hparams = Hparams {
        n_vocab,
        n_audio_ctx,
        n_audio_state,
        n_audio_head: scalar(model, "encoder/num_heads")?,
        n_audio_layer: count_layers(model, "encoder"),
        n_text_ctx,
        n_text_state,
        n_text_head: scalar(model, "decoder/num_heads")?,
        n_text_layer: count_layers(model, "decoder"),
        n_mels,
        ftype: model_file::stored_ftype(weights.tensor_type())
            .unwrap_or_else(|| unreachable!("every WeightFormat has a ggml ftype")),
    };
    if hparams.n_audio_layer == 0 || hparams.n_text_layer == 0 {
        return Err(not_whisper(
            model,
            "it has no encoder or no decoder layers".to_string(),
        ));
    }
    hparams
        .validate()
        .map_err(|detail| inconsistent(model, detail))?;
    Ok(hparams)
}

/// Which rows of a fused CTranslate2 projection a whisper.cpp tensor is.
#[derive(Debug, Clone, Copy)]
struct Part {
    index: u32,
    of: u32,
}

const WHOLE: Part = Part { index: 0, of: 1 };

/// The CTranslate2 variable (and part of it) that holds a whisper.cpp tensor.
fn ct2_source(name: &str) -> Option<(String, Part)> {
    let fixed = match name {
        "encoder.positional_embedding" => Some("encoder/position_encodings/encodings"),
        "encoder.conv1.weight" => Some("encoder/conv1/weight"),
        "encoder.conv1.bias" => Some("encoder/conv1/bias"),
        "encoder.conv2.weight" => Some("encoder/conv2/weight"),
        "encoder.conv2.bias" => Some("encoder/conv2/bias"),
        "encoder.ln_post.weight" => Some("encoder/layer_norm/gamma"),
        "encoder.ln_post.bias" => Some("encoder/layer_norm/beta"),
        "decoder.positional_embedding" => Some("decoder/position_encodings/encodings"),
        "decoder.token_embedding.weight" => Some("decoder/embeddings/weight"),
        "decoder.ln.weight" => Some("decoder/layer_norm/gamma"),
        "decoder.ln.bias" => Some("decoder/layer_norm/beta"),
        _ => None,
    };
    if let Some(fixed) = fixed {
        return Some((fixed.to_string(), WHOLE));
    }

    let (side, rest) = name.split_once(".blocks.")?;
    let (layer, rest) = rest.split_once('.')?;
    let third = |index| Part { index, of: 3 };
    let half = |index| Part { index, of: 2 };
    let (var, part) = match rest {
        "attn_ln.weight" => ("self_attention/layer_norm/gamma", WHOLE),
        "attn_ln.bias" => ("self_attention/layer_norm/beta", WHOLE),
        "attn.query.weight" => ("self_attention/linear_0/weight", third(0)),
        "attn.query.bias" => ("self_attention/linear_0/bias", third(0)),
        "attn.key.weight" => ("self_attention/linear_0/weight", third(1)),
        "attn.value.weight" => ("self_attention/linear_0/weight", third(2)),
        "attn.value.bias" => ("self_attention/linear_0/bias", third(2)),
        "attn.out.weight" => ("self_attention/linear_1/weight", WHOLE),
        "attn.out.bias" => ("self_attention/linear_1/bias", WHOLE),
        "cross_attn_ln.weight" => ("attention/layer_norm/gamma", WHOLE),
        "cross_attn_ln.bias" => ("attention/layer_norm/beta", WHOLE),
        "cross_attn.query.weight" => ("attention/linear_0/weight", WHOLE),
        "cross_attn.query.bias" => ("attention/linear_0/bias", WHOLE),
        "cross_attn.key.weight" => ("attention/linear_1/weight", half(0)),
        "cross_attn.value.weight" => ("attention/linear_1/weight", half(1)),
        "cross_attn.value.bias" => ("attention/linear_1/bias", half(1)),
        "cross_attn.out.weight" => ("attention/linear_2/weight", WHOLE),
        "cross_attn.out.bias" => ("attention/linear_2/bias", WHOLE),
        "mlp_ln.weight" => ("ffn/layer_norm/gamma", WHOLE),
        "mlp_ln.bias" => ("ffn/layer_norm/beta", WHOLE),
        "mlp.0.weight" => ("ffn/linear_0/weight", WHOLE),
        "mlp.0.bias" => ("ffn/linear_0/bias", WHOLE),
        "mlp.2.weight" => ("ffn/linear_1/weight", WHOLE),
        "mlp.2.bias" => ("ffn/linear_1/bias", WHOLE),
        _ => return None,
    };
    Some((format!("{side}/layer_{layer}/{var}"), part))
}

/// Output element types this converter writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutType {
    F32,
    F16,
    Q8_0,
}

impl OutType {
    fn ggml(self) -> TensorType {
        match self {
            OutType::F32 => TensorType::F32,
            OutType::F16 => TensorType::F16,
            OutType::Q8_0 => TensorType::Q8_0,
        }
    }
}

/// One whisper.cpp tensor and where its data lies in `model.bin`.
#[derive(Debug)]
struct PlannedTensor {
    name: String,
    dims: Vec<u32>,
    out: OutType,
    src_offset: u64,
    src_dtype: Dtype,
    n_elements: u64,
    /// Bytes of data in the output (whole blocks, checked while planning).
    data_bytes: u64,
}

impl PlannedTensor {
    fn file_bytes(&self) -> u64 {
        model_file::tensor_header_len(&self.name, self.dims.len()) + self.data_bytes
    }

    /// Values per row: ggml's innermost dimension.
    fn row_len(&self) -> u64 {
        self.dims.first().map_or(1, |&d| u64::from(d))
    }
}

/// Shapes without their size-1 axes (the conv biases gain one in the GGML file).
fn squeezed(dims: impl IntoIterator<Item = u32>) -> Vec<u32> {
    dims.into_iter().filter(|&d| d != 1).collect()
}

/// Finds and checks the source of every tensor whisper.cpp will ask for,
/// ordered by position in `model.bin` so the copy streams forward.
fn plan_tensors(
    model: &ct2::Model,
    h: &Hparams,
    weights: WeightFormat,
) -> Result<Vec<PlannedTensor>, ImportError> {
    let mut plan = Vec::new();
    for spec in model_file::expected_tensors(h) {
        let (var_name, part) = ct2_source(&spec.name).ok_or_else(|| {
            inconsistent(
                model,
                format!("no CTranslate2 source is known for '{}'", spec.name),
            )
        })?;
        let var = variable(model, &var_name)?;
        if !var.dtype.is_float() {
            return Err(match var.dtype {
                Dtype::I8 | Dtype::I16 => ImportError::Quantized {
                    path: model.path.clone(),
                    variable: var_name,
                    dtype: var.dtype.name(),
                },
                other => inconsistent(
                    model,
                    format!("'{var_name}' holds {} values, not weights", other.name()),
                ),
            });
        }

        // ggml lists dims innermost first; CTranslate2 (like PyTorch) outermost first.
        let mut want = squeezed(spec.dims.iter().rev().copied());
        let have = squeezed(var.dims.iter().copied());
        if let Some(rows) = want.first_mut() {
            *rows *= part.of;
        }
        if want != have {
            return Err(inconsistent(
                model,
                format!(
                    "'{var_name}' has shape {:?}, but '{}' of this model needs {:?}",
                    var.dims, spec.name, want
                ),
            ));
        }

        let part_bytes = var.num_bytes / u64::from(part.of);
        let out = match spec.role.storage(weights.tensor_type()) {
            TensorType::F32 => OutType::F32,
            TensorType::Q8_0 => OutType::Q8_0,
            _ => OutType::F16,
        };
        let n_elements = spec.n_elements();
        let width = spec.dims.first().copied().unwrap_or(1);
        let data_bytes = out
            .ggml()
            .data_size(u64::from(width), n_elements)
            .ok_or_else(|| ImportError::NotQuantizable {
                path: model.path.clone(),
                tensor: spec.name.clone(),
                width,
                format: out.ggml(),
            })?;
        plan.push(PlannedTensor {
            n_elements,
            data_bytes,
            name: spec.name,
            dims: spec.dims,
            out,
            src_offset: var.offset + u64::from(part.index) * part_bytes,
            src_dtype: var.dtype,
        });
    }
    plan.sort_by_key(|t| t.src_offset);
    Ok(plan)
}

// ---------------------------------------------------------------------------
// Writing.

#[allow(clippy::too_many_arguments)]
fn write_model(
    file: File,
    temp_path: &Path,
    model: &ct2::Model,
    h: &Hparams,
    filters: &[f32],
    tokens: &[Vec<u8>],
    plan: &[PlannedTensor],
    bytes_total: u64,
    options: &ImportOptions<'_>,
) -> Result<u64, ImportError> {
    let write_err = |source| ImportError::Write {
        path: temp_path.to_path_buf(),
        source,
    };
    let mut out = BufWriter::with_capacity(CHUNK_BYTES, file);
    let mut written = model_file::write_header(&mut out, h).map_err(write_err)?;
    written +=
        model_file::write_mel_filters(&mut out, h.n_mels as usize, model_file::N_FFT_BINS, filters)
            .map_err(write_err)?;
    written += model_file::write_vocab(&mut out, tokens).map_err(write_err)?;

    let mut src = File::open(&model.path).map_err(|source| ImportError::Read {
        path: model.path.clone(),
        source,
    })?;
    let mut chunk = Vec::with_capacity(CHUNK_BYTES);
    let mut converted = Vec::with_capacity(2 * CHUNK_BYTES);
    let mut rows = Vec::new();
    for tensor in plan {
        written += model_file::write_tensor_header(
            &mut out,
            &tensor.name,
            &tensor.dims,
            tensor.out.ggml(),
        )
        .map_err(write_err)?;
        src.seek(SeekFrom::Start(tensor.src_offset))
            .map_err(|source| ImportError::Read {
                path: model.path.clone(),
                source,
            })?;
        let elem = tensor.src_dtype.size();
        let per_chunk = match tensor.out {
            // Quantization works on whole rows (blocks never span two).
            OutType::Q8_0 => {
                let row = tensor.row_len();
                (CHUNK_BYTES as u64 / elem / row).max(1) * row
            }
            OutType::F32 | OutType::F16 => CHUNK_BYTES as u64 / elem,
        };
        let mut remaining = tensor.n_elements;
        while remaining > 0 {
            let n = remaining.min(per_chunk);
            chunk.resize((n * elem) as usize, 0);
            src.read_exact(&mut chunk)
                .map_err(|source| match source.kind() {
                    io::ErrorKind::UnexpectedEof => ImportError::Truncated {
                        path: model.path.clone(),
                        detail: "it became shorter while it was being converted".to_string(),
                    },
                    _ => ImportError::Read {
                        path: model.path.clone(),
                        source,
                    },
                })?;
            converted.clear();
            if tensor.out == OutType::Q8_0 {
                rows.clear();
                widen(&chunk, tensor.src_dtype, &mut rows);
                quantize::q8_0_rows(&rows, tensor.row_len() as usize, &mut converted);
            } else {
                convert(&chunk, tensor.src_dtype, tensor.out, &mut converted);
            }
            out.write_all(&converted).map_err(write_err)?;
            written += converted.len() as u64;
            remaining -= n;
        }
        if let Some(progress) = options.progress {
            progress(ImportProgress {
                bytes_written: written,
                bytes_total,
            });
        }
    }

    let file = out.into_inner().map_err(|e| write_err(e.into_error()))?;
    file.sync_all().map_err(write_err)?;
    Ok(written)
}

/// Converts little-endian source elements to little-endian output elements.
fn convert(src: &[u8], from: Dtype, to: OutType, out: &mut Vec<u8>) {
    let halves = || {
        src.chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let singles = || {
        src.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    match (from, to) {
        (Dtype::F16, OutType::F16) | (Dtype::F32, OutType::F32) => out.extend_from_slice(src),
        (Dtype::F16, OutType::F32) => {
            halves().for_each(|h| out.extend_from_slice(&half::f16_to_f32(h).to_le_bytes()))
        }
        (Dtype::Bf16, OutType::F32) => {
            halves().for_each(|h| out.extend_from_slice(&half::bf16_to_f32(h).to_le_bytes()))
        }
        (Dtype::F32, OutType::F16) => {
            singles().for_each(|f| out.extend_from_slice(&half::f32_to_f16(f).to_le_bytes()))
        }
        (Dtype::Bf16, OutType::F16) => halves().for_each(|h| {
            out.extend_from_slice(&half::f32_to_f16(half::bf16_to_f32(h)).to_le_bytes());
        }),
        // The plan only admits float sources; quantized output goes through [`widen`].
        (Dtype::I8 | Dtype::I16 | Dtype::I32, _) | (_, OutType::Q8_0) => {}
    }
}

/// Decodes little-endian float source elements to the f32 values ggml's
/// quantizer takes. Other sources are rounded to f16 first, so that the
/// quantized file is `quantize` run on the f16 import whatever the source
/// precision (q8_0's steps dwarf f16's rounding anyway).
fn widen(src: &[u8], from: Dtype, out: &mut Vec<f32>) {
    let halves = src
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]));
    let via_f16 = |f: f32| half::f16_to_f32(half::f32_to_f16(f));
    match from {
        Dtype::F16 => out.extend(halves.map(half::f16_to_f32)),
        Dtype::Bf16 => out.extend(halves.map(|h| via_f16(half::bf16_to_f32(h)))),
        Dtype::F32 => out.extend(
            src.chunks_exact(4)
                .map(|b| via_f16(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        ),
        // The plan only admits float sources.
        Dtype::I8 | Dtype::I16 | Dtype::I32 => {}
    }
}

/// A temporary file beside the destination, removed on drop unless committed.
struct TempFile {
    path: PathBuf,
    committed: bool,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl TempFile {
    fn create(dir: &Path, dest: &Path) -> Result<(Self, File), ImportError> {
        let stem = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        loop {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!(".{stem}.{}-{n}.import-tmp", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    let temp = TempFile {
                        path,
                        committed: false,
                    };
                    return Ok((temp, file));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(ImportError::Write { path, source }),
            }
        }
    }

    /// Moves the finished file to `dest`. Without `force` this must not replace
    /// a file that appeared meanwhile, so it links (which fails on an existing
    /// name) rather than renames, falling back to a checked rename where the
    /// filesystem has no hard links.
    fn commit(mut self, dest: &Path, force: bool) -> Result<(), ImportError> {
        let write_err = |source| ImportError::Write {
            path: dest.to_path_buf(),
            source,
        };
        if force {
            fs::rename(&self.path, dest).map_err(write_err)?;
            self.committed = true;
            return Ok(());
        }
        match fs::hard_link(&self.path, dest) {
            Ok(()) => Ok(()), // the temporary name is removed on drop
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(ImportError::AlreadyExists {
                path: dest.to_path_buf(),
            }),
            Err(_) => {
                if fs::symlink_metadata(dest).is_ok() {
                    return Err(ImportError::AlreadyExists {
                        path: dest.to_path_buf(),
                    });
                }
                fs::rename(&self.path, dest).map_err(write_err)?;
                self.committed = true;
                Ok(())
            }
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            if let Err(e) = fs::remove_file(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "could not remove temporary import file");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_expected_tensor_has_a_source() {
        let h = Hparams {
            n_vocab: 51865,
            n_audio_ctx: 1500,
            n_audio_state: 512,
            n_audio_head: 8,
            n_audio_layer: 6,
            n_text_ctx: 448,
            n_text_state: 512,
            n_text_head: 8,
            n_text_layer: 6,
            n_mels: 80,
            ftype: 1,
        };
        let mut sources = std::collections::HashSet::new();
        for spec in model_file::expected_tensors(&h) {
            let (var, part) =
                ct2_source(&spec.name).unwrap_or_else(|| panic!("no source for {}", spec.name));
            assert!(part.index < part.of);
            assert!(
                sources.insert((var, part.index)),
                "{} shares a source",
                spec.name
            );
        }
        assert_eq!(
            ct2_source("decoder.blocks.5.cross_attn.value.bias").map(|(v, p)| (v, p.index, p.of)),
            Some(("decoder/layer_5/attention/linear_1/bias".to_string(), 1, 2))
        );
    }

    #[test]
    fn conversion_widens_and_narrows_floats() {
        let mut out = Vec::new();
        convert(&0x3c00u16.to_le_bytes(), Dtype::F16, OutType::F32, &mut out);
        assert_eq!(out, 1.0f32.to_le_bytes());
        out.clear();
        convert(&(-2.5f32).to_le_bytes(), Dtype::F32, OutType::F16, &mut out);
        assert_eq!(out, 0xc100u16.to_le_bytes());
        out.clear();
        convert(
            &0x4049u16.to_le_bytes(),
            Dtype::Bf16,
            OutType::F16,
            &mut out,
        );
        // bf16 0x4049 is 3.140625, which f16 represents exactly as 0x4248.
        assert_eq!(out, 0x4248u16.to_le_bytes());
    }
}
