//! The whisper.cpp GGML model file format: what a complete, loadable file looks
//! like, the helpers the importer writes it with, and [`inspect`], the cheap
//! check the engine runs before handing a file to whisper.cpp.
//!
//! This module owns knowledge of the file layout only. It must not load weights,
//! call whisper.cpp, or know where models live on disk: `inspect` reads headers
//! and seeks over tensor data, so it costs a few hundred kilobytes of reading
//! whatever the model's size.
//!
//! Layout (all integers little-endian 32-bit, as whisper.cpp's `whisper_model_load`
//! reads them): magic `0x67676d6c`; 11 hparams; mel filters (rows, cols, f32
//! data); vocabulary (count, then length + bytes per token); then tensors until
//! end of file, each `n_dims, name_len, type, dims[n_dims] (innermost first),
//! name, data`.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// The first four bytes of every whisper.cpp model file ("ggml" as a u32).
pub const GGML_MAGIC: u32 = 0x6767_6d6c;

/// whisper.cpp folds a quantization version into `ftype` as `version * 1000 + ftype`.
const QNT_VERSION_FACTOR: u32 = 1000;
/// The quantization format version files are written with (ggml's
/// `GGML_QNT_VERSION`); whisper.cpp only prints it, but `quantize` stores it.
const QNT_VERSION: u32 = 2;

/// The audio front end whisper.cpp runs: 16 kHz input and a 400-sample FFT, so
/// the mel filter bank always has `400 / 2 + 1` frequency bins.
pub const SAMPLE_RATE: u32 = 16_000;
/// FFT length of whisper's log-mel front end.
pub const N_FFT: usize = 400;
/// Frequency bins of the mel filter bank (`N_FFT / 2 + 1`).
pub const N_FFT_BINS: usize = N_FFT / 2 + 1;

/// An English-only Whisper model has 51864 tokens; whisper.cpp treats anything
/// from 51865 up as multilingual.
const MULTILINGUAL_MIN_VOCAB: u32 = 51_865;
/// large-v3 (and its turbo and distilled offspring) added one language token.
const LARGE_V3_VOCAB: u32 = 51_866;

// Sanity limits so that a garbage header is reported as such instead of
// steering a reader into absurd allocations or loops. Generous: large-v3 is
// far inside every one of them.
const MAX_VOCAB: u32 = 1 << 20;
const MAX_CTX: u32 = 1 << 16;
const MAX_STATE: u32 = 1 << 16;
const MAX_HEADS: u32 = 1 << 10;
const MAX_LAYERS: u32 = 1 << 10;
const MAX_MELS: u32 = 1 << 10;
const MAX_TOKEN_LEN: u32 = 1 << 12;
const MAX_TENSOR_NAME_LEN: u32 = 256;

/// The model's hyperparameters, exactly the 11 integers of the file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hparams {
    pub n_vocab: u32,
    pub n_audio_ctx: u32,
    pub n_audio_state: u32,
    pub n_audio_head: u32,
    pub n_audio_layer: u32,
    pub n_text_ctx: u32,
    pub n_text_state: u32,
    pub n_text_head: u32,
    pub n_text_layer: u32,
    pub n_mels: u32,
    /// As stored: the weight format, plus 1000 × the quantization version for
    /// quantized files.
    pub ftype: u32,
}

impl Hparams {
    /// English-only models have a smaller vocabulary; whisper.cpp decides the same way.
    pub fn is_multilingual(&self) -> bool {
        self.n_vocab >= MULTILINGUAL_MIN_VOCAB
    }

    /// The storage type of the big weight matrices, if `ftype` names one this
    /// module knows.
    pub fn weight_type(&self) -> Option<TensorType> {
        TensorType::for_ftype(self.ftype % QNT_VERSION_FACTOR)
    }

    /// The quantization format version (0 for float files).
    pub fn quantization_version(&self) -> u32 {
        self.ftype / QNT_VERSION_FACTOR
    }

    /// Which of OpenAI's model sizes these dimensions are.
    pub fn size(&self) -> ModelSize {
        match (self.n_audio_layer, self.n_audio_state) {
            (4, 384) => ModelSize::Tiny,
            (6, 512) => ModelSize::Base,
            (12, 768) => ModelSize::Small,
            (24, 1024) => ModelSize::Medium,
            (32, 1280) => ModelSize::Large,
            _ => ModelSize::Unknown,
        }
    }

    /// A catalog-style id for a model with these dimensions, such as `tiny.en`,
    /// `base`, `large-v3-turbo` or `distil-medium.en`. Fine-tunes share their
    /// base model's dimensions, so this is a suggestion, not an identity.
    pub fn suggested_model_id(&self) -> String {
        let size = self.size();
        let mut id = match size {
            ModelSize::Unknown => {
                format!("custom-{}x{}", self.n_audio_layer, self.n_audio_state)
            }
            ModelSize::Large if self.n_vocab == LARGE_V3_VOCAB => "large-v3".to_string(),
            known => known.name().to_string(),
        };
        let full_decoder = self.n_text_layer == self.n_audio_layer;
        if size == ModelSize::Large && self.n_vocab == LARGE_V3_VOCAB && self.n_text_layer == 4 {
            id.push_str("-turbo");
        } else if !full_decoder && size != ModelSize::Unknown {
            // Distil-Whisper keeps the encoder and cuts the decoder to 2–4 layers.
            id = format!("distil-{id}");
        }
        if !self.is_multilingual() {
            id.push_str(".en");
        }
        // The catalog names quantized files after their weight type: tiny.en-q8_0.
        if let Some(weight_type) = self.weight_type().filter(|t| t.is_quantized()) {
            id.push('-');
            id.push_str(weight_type.name());
        }
        id
    }

    /// The checks whisper.cpp does not do itself before acting on these values
    /// (it asserts or aborts instead), plus bounds that catch garbage headers.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let bounded = [
            ("n_vocab", self.n_vocab, MAX_VOCAB),
            ("n_audio_ctx", self.n_audio_ctx, MAX_CTX),
            ("n_audio_state", self.n_audio_state, MAX_STATE),
            ("n_audio_head", self.n_audio_head, MAX_HEADS),
            ("n_audio_layer", self.n_audio_layer, MAX_LAYERS),
            ("n_text_ctx", self.n_text_ctx, MAX_CTX),
            ("n_text_state", self.n_text_state, MAX_STATE),
            ("n_text_head", self.n_text_head, MAX_HEADS),
            ("n_text_layer", self.n_text_layer, MAX_LAYERS),
            ("n_mels", self.n_mels, MAX_MELS),
        ];
        for (name, value, max) in bounded {
            if value == 0 || value > max {
                return Err(format!("hyperparameter {name} = {value} is out of range"));
            }
        }
        if self.n_audio_state != self.n_text_state {
            return Err(format!(
                "n_audio_state ({}) differs from n_text_state ({}); whisper.cpp requires them equal",
                self.n_audio_state, self.n_text_state
            ));
        }
        if !self.n_audio_state.is_multiple_of(self.n_audio_head)
            || !self.n_text_state.is_multiple_of(self.n_text_head)
        {
            return Err("the attention head count does not divide the model width".to_string());
        }
        Ok(())
    }
}

/// OpenAI's Whisper model sizes, told apart by encoder depth and width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelSize {
    Tiny,
    Base,
    Small,
    Medium,
    Large,
    /// Dimensions that match none of OpenAI's sizes (a custom-trained model).
    Unknown,
}

impl ModelSize {
    pub fn name(self) -> &'static str {
        match self {
            ModelSize::Tiny => "tiny",
            ModelSize::Base => "base",
            ModelSize::Small => "small",
            ModelSize::Medium => "medium",
            ModelSize::Large => "large",
            ModelSize::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ModelSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Tensor storage types whisper.cpp publishes models in. The numbers are ggml's
/// `ggml_type` ids; block and byte sizes are from ggml's `type_traits`
/// (ggml.c) and the block layouts in ggml-common.h.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
    Bf16,
}

impl TensorType {
    /// The type with this `ggml_type` id, if it is one whisper models use.
    pub fn from_ggml_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => TensorType::F32,
            1 => TensorType::F16,
            2 => TensorType::Q4_0,
            3 => TensorType::Q4_1,
            6 => TensorType::Q5_0,
            7 => TensorType::Q5_1,
            8 => TensorType::Q8_0,
            10 => TensorType::Q2K,
            11 => TensorType::Q3K,
            12 => TensorType::Q4K,
            13 => TensorType::Q5K,
            14 => TensorType::Q6K,
            30 => TensorType::Bf16,
            _ => return None,
        })
    }

    pub fn ggml_id(self) -> u32 {
        match self {
            TensorType::F32 => 0,
            TensorType::F16 => 1,
            TensorType::Q4_0 => 2,
            TensorType::Q4_1 => 3,
            TensorType::Q5_0 => 6,
            TensorType::Q5_1 => 7,
            TensorType::Q8_0 => 8,
            TensorType::Q2K => 10,
            TensorType::Q3K => 11,
            TensorType::Q4K => 12,
            TensorType::Q5K => 13,
            TensorType::Q6K => 14,
            TensorType::Bf16 => 30,
        }
    }

    /// The `ggml_ftype` ids and the weight type each selects, as
    /// `ggml_ftype_to_ggml_type` maps them.
    const FTYPES: [(u32, TensorType); 13] = [
        (0, TensorType::F32),
        (1, TensorType::F16),
        (2, TensorType::Q4_0),
        (3, TensorType::Q4_1),
        (7, TensorType::Q8_0),
        (8, TensorType::Q5_0),
        (9, TensorType::Q5_1),
        (10, TensorType::Q2K),
        (11, TensorType::Q3K),
        (12, TensorType::Q4K),
        (13, TensorType::Q5K),
        (14, TensorType::Q6K),
        (24, TensorType::Bf16),
    ];

    /// The weight type a file's `ftype` (a `ggml_ftype`, without the
    /// quantization version) selects.
    fn for_ftype(ftype: u32) -> Option<Self> {
        Self::FTYPES
            .iter()
            .find(|(id, _)| *id == ftype)
            .map(|&(_, ty)| ty)
    }

    /// Whether values are stored in blocks with shared scales (q8_0, q5_1, …)
    /// rather than one float each.
    pub fn is_quantized(self) -> bool {
        self.block_size() > 1
    }

    /// Elements per block.
    pub fn block_size(self) -> u64 {
        match self {
            TensorType::F32 | TensorType::F16 | TensorType::Bf16 => 1,
            TensorType::Q4_0
            | TensorType::Q4_1
            | TensorType::Q5_0
            | TensorType::Q5_1
            | TensorType::Q8_0 => 32,
            TensorType::Q2K
            | TensorType::Q3K
            | TensorType::Q4K
            | TensorType::Q5K
            | TensorType::Q6K => 256,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> u64 {
        match self {
            TensorType::F32 => 4,
            TensorType::F16 | TensorType::Bf16 => 2,
            TensorType::Q4_0 => 2 + 16,
            TensorType::Q4_1 => 2 * 2 + 16,
            TensorType::Q5_0 => 2 + 4 + 16,
            TensorType::Q5_1 => 2 * 2 + 4 + 16,
            TensorType::Q8_0 => 2 + 32,
            TensorType::Q2K => 2 * 2 + 256 / 16 + 256 / 4,
            TensorType::Q3K => 2 + 256 / 4 + 256 / 8 + 12,
            TensorType::Q4K => 2 * 2 + 12 + 256 / 2,
            TensorType::Q5K => 2 * 2 + 12 + 256 / 2 + 256 / 8,
            TensorType::Q6K => 2 + 256 / 16 + 3 * 256 / 4,
        }
    }

    /// Bytes of data for a tensor of this type whose innermost dimension is
    /// `ne0` and which has `n_elements` in all; `None` when `ne0` is not a
    /// whole number of blocks (ggml cannot store such a tensor).
    pub fn data_size(self, ne0: u64, n_elements: u64) -> Option<u64> {
        let block = self.block_size();
        if !ne0.is_multiple_of(block) {
            return None;
        }
        (n_elements / block).checked_mul(self.block_bytes())
    }

    pub fn name(self) -> &'static str {
        match self {
            TensorType::F32 => "f32",
            TensorType::F16 => "f16",
            TensorType::Q4_0 => "q4_0",
            TensorType::Q4_1 => "q4_1",
            TensorType::Q5_0 => "q5_0",
            TensorType::Q5_1 => "q5_1",
            TensorType::Q8_0 => "q8_0",
            TensorType::Q2K => "q2_k",
            TensorType::Q3K => "q3_k",
            TensorType::Q4K => "q4_k",
            TensorType::Q5K => "q5_k",
            TensorType::Q6K => "q6_k",
            TensorType::Bf16 => "bf16",
        }
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The header `ftype` of a file whose matrices are stored as `weight_type`:
/// the `ggml_ftype`, plus the quantization version × 1000 for quantized types,
/// as whisper.cpp's `quantize` writes it (q8_0: 7 + 2000).
pub(crate) fn stored_ftype(weight_type: TensorType) -> Option<u32> {
    let &(ftype, _) = TensorType::FTYPES
        .iter()
        .find(|(_, ty)| *ty == weight_type)?;
    Some(if weight_type.is_quantized() {
        ftype + QNT_VERSION * QNT_VERSION_FACTOR
    } else {
        ftype
    })
}

/// How whisper.cpp allocates a tensor, which fixes the type the file must store
/// it in (the loader reads the bytes its own allocation needs, whatever the
/// file says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TensorRole {
    /// Biases, norms and positional embeddings: always f32.
    AlwaysF32,
    /// Convolution kernels: f32 in an all-f32 file, else f16 (never quantized).
    Conv,
    /// The matrices: stored in the file's weight type.
    Weight,
}

impl TensorRole {
    pub(crate) fn storage(self, weight_type: TensorType) -> TensorType {
        match self {
            TensorRole::AlwaysF32 => TensorType::F32,
            TensorRole::Conv if weight_type == TensorType::F32 => TensorType::F32,
            TensorRole::Conv => TensorType::F16,
            TensorRole::Weight => weight_type,
        }
    }
}

/// One tensor whisper.cpp expects in a model with given hparams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TensorSpec {
    pub(crate) name: String,
    /// ggml order: innermost (fastest-varying) dimension first.
    pub(crate) dims: Vec<u32>,
    pub(crate) role: TensorRole,
}

impl TensorSpec {
    fn new(name: String, dims: &[u32], role: TensorRole) -> Self {
        TensorSpec {
            name,
            dims: dims.to_vec(),
            role,
        }
    }

    pub(crate) fn n_elements(&self) -> u64 {
        self.dims.iter().map(|&d| u64::from(d)).product()
    }
}

/// Every tensor whisper.cpp's loader creates for these hparams, with its shape,
/// mirroring the `create_tensor` calls in `whisper_model_load`. A file must hold
/// exactly these, or whisper.cpp refuses it.
pub(crate) fn expected_tensors(h: &Hparams) -> Vec<TensorSpec> {
    use TensorRole::{AlwaysF32, Conv, Weight};
    let a = h.n_audio_state;
    let t = h.n_text_state;
    let mut specs =
        Vec::with_capacity(11 + 15 * h.n_audio_layer as usize + 24 * h.n_text_layer as usize);
    let mut push = |name: String, dims: &[u32], role| specs.push(TensorSpec::new(name, dims, role));

    push(
        "encoder.positional_embedding".into(),
        &[a, h.n_audio_ctx],
        AlwaysF32,
    );
    push("encoder.conv1.weight".into(), &[3, h.n_mels, a], Conv);
    push("encoder.conv1.bias".into(), &[1, a], AlwaysF32);
    push("encoder.conv2.weight".into(), &[3, a, a], Conv);
    push("encoder.conv2.bias".into(), &[1, a], AlwaysF32);
    push("encoder.ln_post.weight".into(), &[a], AlwaysF32);
    push("encoder.ln_post.bias".into(), &[a], AlwaysF32);
    for i in 0..h.n_audio_layer {
        let p = format!("encoder.blocks.{i}");
        push_block_tensors(&mut push, &p, "attn", a);
        push_mlp_tensors(&mut push, &p, a);
    }

    push(
        "decoder.positional_embedding".into(),
        &[t, h.n_text_ctx],
        AlwaysF32,
    );
    push(
        "decoder.token_embedding.weight".into(),
        &[t, h.n_vocab],
        Weight,
    );
    push("decoder.ln.weight".into(), &[t], AlwaysF32);
    push("decoder.ln.bias".into(), &[t], AlwaysF32);
    for i in 0..h.n_text_layer {
        let p = format!("decoder.blocks.{i}");
        push_block_tensors(&mut push, &p, "attn", t);
        push_block_tensors(&mut push, &p, "cross_attn", t);
        push_mlp_tensors(&mut push, &p, t);
    }
    specs
}

/// An attention sub-block: its layer norm, and Q, K, V, out projections
/// (whisper's K projection has no bias).
fn push_block_tensors(
    push: &mut impl FnMut(String, &[u32], TensorRole),
    prefix: &str,
    attn: &str,
    n: u32,
) {
    use TensorRole::{AlwaysF32, Weight};
    push(format!("{prefix}.{attn}_ln.weight"), &[n], AlwaysF32);
    push(format!("{prefix}.{attn}_ln.bias"), &[n], AlwaysF32);
    push(format!("{prefix}.{attn}.query.weight"), &[n, n], Weight);
    push(format!("{prefix}.{attn}.query.bias"), &[n], AlwaysF32);
    push(format!("{prefix}.{attn}.key.weight"), &[n, n], Weight);
    push(format!("{prefix}.{attn}.value.weight"), &[n, n], Weight);
    push(format!("{prefix}.{attn}.value.bias"), &[n], AlwaysF32);
    push(format!("{prefix}.{attn}.out.weight"), &[n, n], Weight);
    push(format!("{prefix}.{attn}.out.bias"), &[n], AlwaysF32);
}

fn push_mlp_tensors(push: &mut impl FnMut(String, &[u32], TensorRole), prefix: &str, n: u32) {
    use TensorRole::{AlwaysF32, Weight};
    push(format!("{prefix}.mlp_ln.weight"), &[n], AlwaysF32);
    push(format!("{prefix}.mlp_ln.bias"), &[n], AlwaysF32);
    push(format!("{prefix}.mlp.0.weight"), &[n, 4 * n], Weight);
    push(format!("{prefix}.mlp.0.bias"), &[4 * n], AlwaysF32);
    push(format!("{prefix}.mlp.2.weight"), &[4 * n, n], Weight);
    push(format!("{prefix}.mlp.2.bias"), &[n], AlwaysF32);
}

// ---------------------------------------------------------------------------
// Writing (used by the importer).

fn put_u32(w: &mut impl Write, v: u32) -> io::Result<()> {
    w.write_all(&v.to_le_bytes())
}

fn put_len(w: &mut impl Write, len: usize) -> io::Result<()> {
    let len = u32::try_from(len)
        .ok()
        .filter(|&l| l <= i32::MAX as u32)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "length does not fit the GGML header",
            )
        })?;
    put_u32(w, len)
}

/// Writes the magic and the hparams; returns the bytes written.
pub(crate) fn write_header(w: &mut impl Write, h: &Hparams) -> io::Result<u64> {
    put_u32(w, GGML_MAGIC)?;
    for v in [
        h.n_vocab,
        h.n_audio_ctx,
        h.n_audio_state,
        h.n_audio_head,
        h.n_audio_layer,
        h.n_text_ctx,
        h.n_text_state,
        h.n_text_head,
        h.n_text_layer,
        h.n_mels,
        h.ftype,
    ] {
        put_u32(w, v)?;
    }
    Ok(4 * 12)
}

/// Writes the mel filter bank, `n_mels` rows of `n_bins` weights, row-major.
pub(crate) fn write_mel_filters(
    w: &mut impl Write,
    n_mels: usize,
    n_bins: usize,
    filters: &[f32],
) -> io::Result<u64> {
    if filters.len() != n_mels * n_bins {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "mel filter bank size does not match its shape",
        ));
    }
    put_len(w, n_mels)?;
    put_len(w, n_bins)?;
    let mut bytes = Vec::with_capacity(filters.len() * 4);
    for f in filters {
        bytes.extend_from_slice(&f.to_le_bytes());
    }
    w.write_all(&bytes)?;
    Ok(8 + bytes.len() as u64)
}

/// Writes the vocabulary: the count, then each token as length + raw bytes.
pub(crate) fn write_vocab(w: &mut impl Write, tokens: &[Vec<u8>]) -> io::Result<u64> {
    put_len(w, tokens.len())?;
    let mut written = 4;
    for token in tokens {
        put_len(w, token.len())?;
        w.write_all(token)?;
        written += 4 + token.len() as u64;
    }
    Ok(written)
}

/// Writes a tensor header (the data follows it directly); returns its length.
pub(crate) fn write_tensor_header(
    w: &mut impl Write,
    name: &str,
    dims: &[u32],
    ty: TensorType,
) -> io::Result<u64> {
    put_len(w, dims.len())?;
    put_len(w, name.len())?;
    put_u32(w, ty.ggml_id())?;
    for &d in dims {
        put_u32(w, d)?;
    }
    w.write_all(name.as_bytes())?;
    Ok(tensor_header_len(name, dims.len()))
}

pub(crate) fn tensor_header_len(name: &str, n_dims: usize) -> u64 {
    (12 + 4 * n_dims + name.len()) as u64
}

// ---------------------------------------------------------------------------
// Reading.

/// Why a file is not a complete, loadable whisper.cpp model.
#[derive(Debug, Error)]
pub enum ModelFileError {
    #[error("could not read model file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a whisper.cpp model file: {detail}")]
    NotGgml { path: PathBuf, detail: String },
    #[error("{path} is incomplete: {detail}. The download or copy was cut short; download or import the model again")]
    Truncated { path: PathBuf, detail: String },
    #[error("{path} is not a valid whisper.cpp model: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error("{path} uses a format EZ Flow cannot load: {detail}")]
    Unsupported { path: PathBuf, detail: String },
}

/// What [`inspect`] learned about a complete model file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFileInfo {
    pub path: PathBuf,
    pub file_size: u64,
    pub hparams: Hparams,
    /// The storage type of the big matrices (f16 for a converted model,
    /// q5_1 / q8_0 / … for a quantized one).
    pub weight_type: TensorType,
    pub quantization_version: u32,
    /// BPE tokens in the file; whisper.cpp synthesises the special tokens above them.
    pub token_count: u32,
    pub tensor_count: usize,
    pub size: ModelSize,
    pub english_only: bool,
    /// See [`Hparams::suggested_model_id`].
    pub model_id: String,
}

/// Reads a whisper.cpp model file's header, hparams, mel filters and
/// vocabulary, and walks every tensor header (seeking over the data), checking
/// that the file is complete and holds exactly the tensors, shapes and types
/// whisper.cpp will ask for. Tensor data is never read.
pub fn inspect(path: &Path) -> Result<ModelFileInfo, ModelFileError> {
    let io_err = |source| ModelFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let file_size = file.metadata().map_err(io_err)?.len();
    let mut r = Cursor {
        inner: BufReader::with_capacity(64 * 1024, file),
        pos: 0,
        len: file_size,
        path,
    };
    let info = r.inspect()?;
    tracing::debug!(path = %path.display(), model = %info.model_id, tensors = info.tensor_count, "model file inspected");
    Ok(info)
}

/// A position-tracking reader over the model file, so errors can say where.
struct Cursor<'p> {
    inner: BufReader<File>,
    pos: u64,
    len: u64,
    path: &'p Path,
}

impl Cursor<'_> {
    fn truncated(&self, detail: String) -> ModelFileError {
        ModelFileError::Truncated {
            path: self.path.to_path_buf(),
            detail,
        }
    }

    fn invalid(&self, detail: String) -> ModelFileError {
        ModelFileError::Invalid {
            path: self.path.to_path_buf(),
            detail,
        }
    }

    fn read_bytes(&mut self, buf: &mut [u8], what: &str) -> Result<(), ModelFileError> {
        match self.inner.read_exact(buf) {
            Ok(()) => {
                self.pos += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(self.truncated(format!(
                "it ends at byte {} in the middle of the {what}",
                self.len
            ))),
            Err(source) => Err(ModelFileError::Io {
                path: self.path.to_path_buf(),
                source,
            }),
        }
    }

    fn read_u32(&mut self, what: &str) -> Result<u32, ModelFileError> {
        let mut b = [0u8; 4];
        self.read_bytes(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    /// A header field stored as a C `int32_t`; negative values are never valid.
    fn read_count(&mut self, what: &str) -> Result<u32, ModelFileError> {
        let v = self.read_u32(what)?;
        if v > i32::MAX as u32 {
            return Err(self.invalid(format!("{what} is negative ({})", v as i32)));
        }
        Ok(v)
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), ModelFileError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.len)
            .ok_or_else(|| {
                self.truncated(format!(
                    "the {what} needs {n} bytes from byte {} but the file ends at byte {}",
                    self.pos, self.len
                ))
            })?;
        let step =
            i64::try_from(n).map_err(|_| self.invalid(format!("{what} is impossibly large")))?;
        self.inner
            .seek_relative(step)
            .map_err(|source| ModelFileError::Io {
                path: self.path.to_path_buf(),
                source,
            })?;
        self.pos = end;
        Ok(())
    }

    fn inspect(&mut self) -> Result<ModelFileInfo, ModelFileError> {
        let mut magic = [0u8; 4];
        if self.len < 4 {
            return Err(ModelFileError::NotGgml {
                path: self.path.to_path_buf(),
                detail: format!("it is only {} bytes long", self.len),
            });
        }
        self.read_bytes(&mut magic, "file magic")?;
        if u32::from_le_bytes(magic) != GGML_MAGIC {
            let detail = if &magic == b"GGUF" {
                "it is a GGUF file (a llama.cpp-style format), not whisper.cpp's GGML format"
                    .to_string()
            } else {
                format!("it starts with bytes {magic:02x?} instead of the GGML magic 0x67676d6c")
            };
            return Err(ModelFileError::NotGgml {
                path: self.path.to_path_buf(),
                detail,
            });
        }

        let h = self.read_hparams()?;
        let weight_type = h.weight_type().ok_or_else(|| ModelFileError::Unsupported {
            path: self.path.to_path_buf(),
            detail: format!(
                "weight format ftype {} is not one whisper.cpp models are published in",
                h.ftype
            ),
        })?;

        let n_mel = self.read_count("mel filter header")?;
        let n_bins = self.read_count("mel filter header")?;
        if n_mel != h.n_mels || n_bins as usize != N_FFT_BINS {
            return Err(self.invalid(format!(
                "the mel filter bank is {n_mel} x {n_bins}, expected {} x {N_FFT_BINS}",
                h.n_mels
            )));
        }
        self.skip(u64::from(n_mel) * u64::from(n_bins) * 4, "mel filter bank")?;

        let token_count = self.read_count("vocabulary header")?;
        if token_count == 0 || token_count > h.n_vocab {
            return Err(self.invalid(format!(
                "the vocabulary holds {token_count} tokens but the model has {} token embeddings",
                h.n_vocab
            )));
        }
        for i in 0..token_count {
            let len = self.read_count("vocabulary")?;
            if len > MAX_TOKEN_LEN {
                return Err(self.invalid(format!("token {i} claims to be {len} bytes long")));
            }
            self.skip(u64::from(len), "vocabulary")?;
        }

        let tensor_count = self.walk_tensors(&h, weight_type)?;

        Ok(ModelFileInfo {
            path: self.path.to_path_buf(),
            file_size: self.len,
            hparams: h,
            weight_type,
            quantization_version: h.quantization_version(),
            token_count,
            tensor_count,
            size: h.size(),
            english_only: !h.is_multilingual(),
            model_id: h.suggested_model_id(),
        })
    }

    fn read_hparams(&mut self) -> Result<Hparams, ModelFileError> {
        let mut v = [0u32; 11];
        for slot in &mut v {
            *slot = self.read_count("hyperparameters")?;
        }
        let h = Hparams {
            n_vocab: v[0],
            n_audio_ctx: v[1],
            n_audio_state: v[2],
            n_audio_head: v[3],
            n_audio_layer: v[4],
            n_text_ctx: v[5],
            n_text_state: v[6],
            n_text_head: v[7],
            n_text_layer: v[8],
            n_mels: v[9],
            ftype: v[10],
        };
        h.validate().map_err(|detail| self.invalid(detail))?;
        Ok(h)
    }

    /// Walks the tensor headers to the end of the file; returns how many there are.
    fn walk_tensors(
        &mut self,
        h: &Hparams,
        weight_type: TensorType,
    ) -> Result<usize, ModelFileError> {
        let specs = expected_tensors(h);
        let index: std::collections::HashMap<&str, usize> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let mut seen = vec![false; specs.len()];
        let mut count = 0usize;

        while self.pos < self.len {
            let n_dims = self.read_count("tensor header")?;
            let name_len = self.read_count("tensor header")?;
            let type_id = self.read_count("tensor header")?;
            if !(1..=4).contains(&n_dims) {
                return Err(self.invalid(format!(
                    "tensor {count} has {n_dims} dimensions (1 to 4 allowed)"
                )));
            }
            if name_len == 0 || name_len > MAX_TENSOR_NAME_LEN {
                return Err(self.invalid(format!("tensor {count} has a {name_len}-byte name")));
            }
            let mut dims = [1u32; 4];
            for d in dims.iter_mut().take(n_dims as usize) {
                *d = self.read_count("tensor header")?;
            }
            let mut name = vec![0u8; name_len as usize];
            self.read_bytes(&mut name, "tensor header")?;
            let name = String::from_utf8(name).map_err(|_| {
                self.invalid(format!("tensor {count} has a name that is not UTF-8"))
            })?;

            let i = *index.get(name.as_str()).ok_or_else(|| {
                self.invalid(format!(
                    "unexpected tensor '{name}' (whisper.cpp would refuse it)"
                ))
            })?;
            if std::mem::replace(&mut seen[i], true) {
                return Err(self.invalid(format!("tensor '{name}' appears twice")));
            }
            let spec = &specs[i];
            let mut want = [1u32; 4];
            want[..spec.dims.len()].copy_from_slice(&spec.dims);
            if dims != want {
                return Err(self.invalid(format!(
                    "tensor '{name}' has shape {:?}, expected {:?}",
                    &dims[..n_dims as usize],
                    spec.dims
                )));
            }
            let expected_type = spec.role.storage(weight_type);
            let ty = TensorType::from_ggml_id(type_id).ok_or_else(|| {
                self.invalid(format!("tensor '{name}' has unknown type id {type_id}"))
            })?;
            if ty != expected_type {
                return Err(self.invalid(format!(
                    "tensor '{name}' is stored as {ty}, but whisper.cpp loads it as {expected_type}"
                )));
            }
            let data = ty
                .data_size(u64::from(dims[0]), spec.n_elements())
                .ok_or_else(|| {
                    self.invalid(format!(
                        "tensor '{name}' is not a whole number of {ty} blocks"
                    ))
                })?;
            self.skip(data, &format!("data of tensor '{name}'"))?;
            count += 1;
        }

        if let Some(missing) = seen.iter().position(|s| !s) {
            return Err(self.truncated(format!(
                "it holds {count} of the {} tensors a {} model needs (first missing: '{}')",
                specs.len(),
                h.suggested_model_id(),
                specs[missing].name
            )));
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_en() -> Hparams {
        Hparams {
            n_vocab: 51864,
            n_audio_ctx: 1500,
            n_audio_state: 384,
            n_audio_head: 6,
            n_audio_layer: 4,
            n_text_ctx: 448,
            n_text_state: 384,
            n_text_head: 6,
            n_text_layer: 4,
            n_mels: 80,
            ftype: 1,
        }
    }

    #[test]
    fn expected_tensor_count_matches_whisper_cpp_formula() {
        // whisper_model_load sizes its context for 10 + 15 + 15*La + 24*Lt
        // tensors, of which 11 + 15*La + 24*Lt are created.
        let h = tiny_en();
        assert_eq!(expected_tensors(&h).len(), 11 + 15 * 4 + 24 * 4);
        let large = Hparams {
            n_audio_layer: 32,
            n_text_layer: 4,
            ..h
        };
        assert_eq!(expected_tensors(&large).len(), 11 + 15 * 32 + 24 * 4);
    }

    #[test]
    fn model_ids_follow_dimensions() {
        let tiny = tiny_en();
        assert_eq!(tiny.suggested_model_id(), "tiny.en");
        let base = Hparams {
            n_vocab: 51865,
            n_audio_state: 512,
            n_text_state: 512,
            n_audio_layer: 6,
            n_text_layer: 6,
            ..tiny
        };
        assert_eq!(base.suggested_model_id(), "base");
        let large = Hparams {
            n_vocab: 51866,
            n_audio_state: 1280,
            n_text_state: 1280,
            n_audio_layer: 32,
            n_text_layer: 32,
            n_mels: 128,
            ..tiny
        };
        assert_eq!(large.suggested_model_id(), "large-v3");
        assert_eq!(
            Hparams {
                n_text_layer: 4,
                ..large
            }
            .suggested_model_id(),
            "large-v3-turbo"
        );
        assert_eq!(
            Hparams {
                n_text_layer: 2,
                ..large
            }
            .suggested_model_id(),
            "distil-large-v3"
        );
        assert_eq!(
            Hparams {
                n_audio_layer: 5,
                ..tiny
            }
            .suggested_model_id(),
            "custom-5x384.en"
        );
    }

    #[test]
    fn quantized_block_sizes_match_ggml() {
        // A 384-wide row: q5_1 packs 32 values into 24 bytes, q8_0 into 34.
        assert_eq!(
            TensorType::Q5_1.data_size(384, 384 * 384),
            Some(384 * 12 * 24)
        );
        assert_eq!(TensorType::Q8_0.data_size(384, 384), Some(12 * 34));
        assert_eq!(TensorType::Q4_0.data_size(33, 33), None);
        assert_eq!(TensorType::Q6K.data_size(512, 512), Some(2 * 210));
        for id in 0..40 {
            if let Some(t) = TensorType::from_ggml_id(id) {
                assert_eq!(t.ggml_id(), id);
            }
        }
    }

    #[test]
    fn ftype_carries_quantization_version() {
        let h = Hparams {
            ftype: 2009,
            ..tiny_en()
        };
        assert_eq!(h.weight_type(), Some(TensorType::Q5_1));
        assert_eq!(h.quantization_version(), 2);
        assert_eq!(Hparams { ftype: 4, ..h }.weight_type(), None);
        assert_eq!(stored_ftype(TensorType::Q5_1), Some(2009));
        assert_eq!(stored_ftype(TensorType::Q8_0), Some(2007));
        assert_eq!(stored_ftype(TensorType::F16), Some(1));
        assert_eq!(h.suggested_model_id(), "tiny.en-q5_1");
        assert_eq!(
            Hparams { ftype: 2007, ..h }.suggested_model_id(),
            "tiny.en-q8_0"
        );
    }

    #[test]
    fn quantized_tensors_are_those_whisper_cpp_quantize_picks() {
        // examples/quantize: every 2-D tensor except these; 1-D tensors and
        // the 3-D convolution kernels keep their type. The loader must agree,
        // or it would refuse what `quantize` writes.
        let skipped = [
            "encoder.conv1.bias",
            "encoder.conv2.bias",
            "encoder.positional_embedding",
            "decoder.positional_embedding",
        ];
        for spec in expected_tensors(&tiny_en()) {
            let picked = spec.dims.len() == 2 && !skipped.contains(&spec.name.as_str());
            let stored = spec.role.storage(TensorType::Q8_0);
            assert_eq!(stored == TensorType::Q8_0, picked, "{}", spec.name);
            if !picked {
                assert_eq!(
                    stored,
                    spec.role.storage(TensorType::F16),
                    "{} keeps its f16-file type",
                    spec.name
                );
            }
        }
    }
}
