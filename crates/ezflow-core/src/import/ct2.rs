//! Reader for CTranslate2's `model.bin` (the format faster-whisper models ship in).
//!
//! It owns the file layout only: it indexes every variable (name, shape, type
//! and where its bytes lie) by reading headers and seeking over the data, and
//! reads the few scalar variables. It must not interpret the model (that is the
//! importer's job) nor load tensor data into memory.
//!
//! Layout (little-endian; see CTranslate2's `Model::load` and `model_spec.py`):
//! u32 binary version; string spec name; u32 spec revision; u32 variable count;
//! per variable: string name, u8 rank, rank × u32 dims, u8 dtype, u32 byte
//! count, data; then u32 alias count and (alias, target) string pairs. A string
//! is a u16 length that counts a trailing NUL, then the bytes and the NUL.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::ImportError;

/// Binary versions whose variable records carry an explicit dtype and byte
/// count (4) and aliases (3+); 6 is what CTranslate2 3.x and 4.x write.
const SUPPORTED_VERSIONS: std::ops::RangeInclusive<u32> = 4..=6;
const MAX_RANK: u8 = 8;
const MAX_VARIABLES: u32 = 1 << 20;

/// CTranslate2's `DataType` ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dtype {
    F32,
    I8,
    I16,
    I32,
    F16,
    Bf16,
}

impl Dtype {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Dtype::F32,
            1 => Dtype::I8,
            2 => Dtype::I16,
            3 => Dtype::I32,
            4 => Dtype::F16,
            5 => Dtype::Bf16,
            _ => return None,
        })
    }

    pub(crate) fn size(self) -> u64 {
        match self {
            Dtype::I8 => 1,
            Dtype::I16 | Dtype::F16 | Dtype::Bf16 => 2,
            Dtype::F32 | Dtype::I32 => 4,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::I8 => "int8",
            Dtype::I16 => "int16",
            Dtype::I32 => "int32",
            Dtype::F16 => "float16",
            Dtype::Bf16 => "bfloat16",
        }
    }

    pub(crate) fn is_float(self) -> bool {
        matches!(self, Dtype::F32 | Dtype::F16 | Dtype::Bf16)
    }
}

/// One variable's header and the location of its data in `model.bin`.
#[derive(Debug, Clone)]
pub(crate) struct Variable {
    pub(crate) dims: Vec<u32>,
    pub(crate) dtype: Dtype,
    /// Byte offset of the data from the start of the file.
    pub(crate) offset: u64,
    pub(crate) num_bytes: u64,
    /// The value of an integer scalar (such as `num_heads`).
    pub(crate) scalar: Option<i64>,
}

/// The index of a `model.bin`.
#[derive(Debug)]
pub(crate) struct Model {
    pub(crate) path: PathBuf,
    pub(crate) spec: String,
    pub(crate) variables: HashMap<String, Variable>,
}

impl Model {
    /// Reads every variable header of `path`, checking that all the data the
    /// headers announce is present, without reading the data.
    pub(crate) fn index(path: &Path) -> Result<Model, ImportError> {
        let io_err = |source| ImportError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        if len == 0 {
            return Err(ImportError::Truncated {
                path: path.to_path_buf(),
                detail: "it is empty".to_string(),
            });
        }
        let mut r = Reader {
            inner: BufReader::with_capacity(64 * 1024, file),
            pos: 0,
            len,
            path,
        };

        let version = r.u32("binary version")?;
        if !SUPPORTED_VERSIONS.contains(&version) {
            return Err(ImportError::NotCt2 {
                path: path.to_path_buf(),
                detail: if version > 1000 {
                    "its header is not a CTranslate2 binary version".to_string()
                } else {
                    format!(
                        "binary version {version} is not supported (EZ Flow reads versions {} to {})",
                        SUPPORTED_VERSIONS.start(),
                        SUPPORTED_VERSIONS.end()
                    )
                },
            });
        }
        let spec = r.string("model spec name")?;
        let _revision = r.u32("spec revision")?;
        let count = r.u32("variable count")?;
        if count > MAX_VARIABLES {
            return Err(r.not_ct2(format!("it claims {count} variables")));
        }

        let mut variables = HashMap::with_capacity(count as usize);
        for i in 0..count {
            let name = r.string(&format!("name of variable {i}"))?;
            let rank = r.u8(&format!("header of variable '{name}'"))?;
            if rank > MAX_RANK {
                return Err(r.not_ct2(format!("variable '{name}' claims {rank} dimensions")));
            }
            let mut dims = Vec::with_capacity(usize::from(rank));
            for _ in 0..rank {
                dims.push(r.u32(&format!("header of variable '{name}'"))?);
            }
            let type_id = r.u8(&format!("header of variable '{name}'"))?;
            let dtype = Dtype::from_id(type_id).ok_or_else(|| {
                r.not_ct2(format!(
                    "variable '{name}' has unknown data type id {type_id}"
                ))
            })?;
            let num_bytes = u64::from(r.u32(&format!("header of variable '{name}'"))?);
            let elements: u64 = dims.iter().map(|&d| u64::from(d)).product();
            if elements.checked_mul(dtype.size()) != Some(num_bytes) {
                return Err(r.not_ct2(format!(
                    "variable '{name}' has shape {dims:?} of {} but {num_bytes} bytes",
                    dtype.name()
                )));
            }
            let offset = r.pos;
            let scalar = if dims.is_empty() {
                Some(r.int_scalar(dtype, &name)?)
            } else {
                r.skip(num_bytes, &format!("data of variable '{name}'"))?;
                None
            };
            variables.insert(
                name,
                Variable {
                    dims,
                    dtype,
                    offset,
                    num_bytes,
                    scalar,
                },
            );
        }

        // The alias table closes the file; reading it proves the file is whole.
        let aliases = r.u32("alias count")?;
        if aliases > MAX_VARIABLES {
            return Err(r.not_ct2(format!("it claims {aliases} aliases")));
        }
        for _ in 0..aliases {
            r.string("alias table")?;
            r.string("alias table")?;
        }
        if r.pos != len {
            tracing::warn!(path = %path.display(), extra = len - r.pos, "model.bin has trailing bytes after its alias table");
        }

        Ok(Model {
            path: path.to_path_buf(),
            spec,
            variables,
        })
    }
}

/// A position-tracking reader so errors can say where the file ended.
struct Reader<'p> {
    inner: BufReader<File>,
    pos: u64,
    len: u64,
    path: &'p Path,
}

impl Reader<'_> {
    fn not_ct2(&self, detail: String) -> ImportError {
        ImportError::NotCt2 {
            path: self.path.to_path_buf(),
            detail,
        }
    }

    fn bytes(&mut self, buf: &mut [u8], what: &str) -> Result<(), ImportError> {
        match self.inner.read_exact(buf) {
            Ok(()) => {
                self.pos += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(ImportError::Truncated {
                path: self.path.to_path_buf(),
                detail: format!("it ends at byte {} in the middle of the {what}", self.len),
            }),
            Err(source) => Err(ImportError::Read {
                path: self.path.to_path_buf(),
                source,
            }),
        }
    }

    fn u8(&mut self, what: &str) -> Result<u8, ImportError> {
        let mut b = [0u8; 1];
        self.bytes(&mut b, what)?;
        Ok(b[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, ImportError> {
        let mut b = [0u8; 2];
        self.bytes(&mut b, what)?;
        Ok(u16::from_le_bytes(b))
    }

    fn u32(&mut self, what: &str) -> Result<u32, ImportError> {
        let mut b = [0u8; 4];
        self.bytes(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    fn string(&mut self, what: &str) -> Result<String, ImportError> {
        let len = self.u16(what)?;
        let mut buf = vec![0u8; usize::from(len)];
        self.bytes(&mut buf, what)?;
        if buf.pop() != Some(0) {
            return Err(self.not_ct2(format!("the {what} is not a NUL-terminated string")));
        }
        String::from_utf8(buf).map_err(|_| self.not_ct2(format!("the {what} is not UTF-8")))
    }

    fn int_scalar(&mut self, dtype: Dtype, name: &str) -> Result<i64, ImportError> {
        let what = format!("value of variable '{name}'");
        Ok(match dtype {
            Dtype::I8 => i64::from(self.u8(&what)? as i8),
            Dtype::I16 => i64::from(self.u16(&what)? as i16),
            Dtype::I32 => i64::from(self.u32(&what)? as i32),
            // Float scalars (none that the importer needs) are kept as bits.
            Dtype::F16 | Dtype::Bf16 => i64::from(self.u16(&what)?),
            Dtype::F32 => i64::from(self.u32(&what)?),
        })
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), ImportError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.len)
            .ok_or_else(|| ImportError::Truncated {
                path: self.path.to_path_buf(),
                detail: format!(
                    "the {what} needs {n} bytes from byte {} but the file ends at byte {}",
                    self.pos, self.len
                ),
            })?;
        let step = i64::try_from(n)
            .map_err(|_| self.not_ct2(format!("the {what} is impossibly large")))?;
        self.inner
            .seek_relative(step)
            .map_err(|source| ImportError::Read {
                path: self.path.to_path_buf(),
                source,
            })?;
        self.pos = end;
        Ok(())
    }
}
