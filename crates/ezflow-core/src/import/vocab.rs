//! The BPE vocabulary of a CTranslate2 Whisper model, as whisper.cpp wants it.
//!
//! Owns reading `vocabulary.txt` (one token per line, in id order) or, failing
//! that, the Hugging Face `tokenizer.json`, and turning GPT-2's byte-level
//! token spellings back into raw bytes. It must not know about tensors.
//!
//! whisper.cpp's converters write only the ordinary BPE tokens (ids below
//! `<|endoftext|>`: 50256 for English-only models, 50257 for multilingual
//! ones); the loader synthesises the special and timestamp tokens above them
//! from the model's vocabulary size.

use std::path::Path;

use super::ImportError;

const END_OF_TEXT: &str = "<|endoftext|>";

/// The ordinary tokens, as raw bytes, indexed by token id.
#[derive(Debug)]
pub(crate) struct Vocabulary {
    pub(crate) tokens: Vec<Vec<u8>>,
    /// All entries the source lists, special tokens included (only known for
    /// `vocabulary.txt`, which lists timestamps too).
    pub(crate) total_entries: Option<usize>,
}

/// GPT-2's `bytes_to_unicode` inverted: the byte each printable stand-in
/// character denotes, indexed by the character's code point.
fn byte_decoder() -> [Option<u8>; 512] {
    let mut table = [None; 512];
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xa1..=0xac | 0xae..=0xff);
    let mut next_stand_in = 256usize;
    for b in 0..=255u8 {
        if printable(b) {
            table[usize::from(b)] = Some(b);
        } else {
            table[next_stand_in] = Some(b);
            next_stand_in += 1;
        }
    }
    table
}

fn decode_token(table: &[Option<u8>; 512], token: &str) -> Option<Vec<u8>> {
    token
        .chars()
        .map(|c| table.get(c as usize).copied().flatten())
        .collect()
}

fn bad(path: &Path, detail: String) -> ImportError {
    ImportError::BadVocabulary {
        path: path.to_path_buf(),
        detail,
    }
}

fn read_text(path: &Path) -> Result<String, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| bad(path, "it is not UTF-8 text".to_string()))
}

/// Reads CTranslate2's `vocabulary.txt`.
pub(crate) fn from_vocabulary_txt(path: &Path) -> Result<Vocabulary, ImportError> {
    let text = read_text(path)?;
    let mut entries: Vec<&str> = text.split('\n').collect();
    if entries.last() == Some(&"") {
        entries.pop();
    }
    let regular = entries
        .iter()
        .position(|&e| e == END_OF_TEXT)
        .ok_or_else(|| {
            bad(
                path,
                format!("it has no {END_OF_TEXT} token, so it is not a Whisper vocabulary"),
            )
        })?;
    let table = byte_decoder();
    let tokens = entries[..regular]
        .iter()
        .enumerate()
        .map(|(id, entry)| {
            decode_token(&table, entry).ok_or_else(|| {
                bad(
                    path,
                    format!("line {} ({entry:?}) is not a byte-level BPE token", id + 1),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Vocabulary {
        tokens,
        total_entries: Some(entries.len()),
    })
}

/// Reads a Hugging Face `tokenizer.json` (BPE model vocabulary plus added tokens).
pub(crate) fn from_tokenizer_json(path: &Path) -> Result<Vocabulary, ImportError> {
    let text = read_text(path)?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| bad(path, format!("it is not valid JSON ({e})")))?;
    let vocab = json
        .pointer("/model/vocab")
        .and_then(|v| v.as_object())
        .ok_or_else(|| bad(path, "it has no model.vocab table".to_string()))?;

    let mut end_of_text = vocab.get(END_OF_TEXT).and_then(|v| v.as_u64());
    if let Some(added) = json.get("added_tokens").and_then(|v| v.as_array()) {
        for token in added {
            if token.get("content").and_then(|c| c.as_str()) == Some(END_OF_TEXT) {
                end_of_text = token.get("id").and_then(|v| v.as_u64());
            }
        }
    }
    let regular = end_of_text
        .and_then(|id| usize::try_from(id).ok())
        .ok_or_else(|| {
            bad(
                path,
                format!("it has no {END_OF_TEXT} token, so it is not a Whisper tokenizer"),
            )
        })?;

    let mut by_id: Vec<Option<&str>> = vec![None; regular];
    for (token, id) in vocab {
        let id = id
            .as_u64()
            .and_then(|id| usize::try_from(id).ok())
            .ok_or_else(|| bad(path, format!("token {token:?} has no numeric id")))?;
        if let Some(slot) = by_id.get_mut(id) {
            *slot = Some(token.as_str());
        }
    }
    let table = byte_decoder();
    let tokens = by_id
        .iter()
        .enumerate()
        .map(|(id, token)| {
            let token = token.ok_or_else(|| bad(path, format!("token id {id} is missing")))?;
            decode_token(&table, token).ok_or_else(|| {
                bad(
                    path,
                    format!("token {id} ({token:?}) is not a byte-level BPE token"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Vocabulary {
        tokens,
        total_entries: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_decoder_is_a_bijection_onto_bytes() {
        let table = byte_decoder();
        let mut seen = [false; 256];
        for b in table.iter().flatten() {
            assert!(!std::mem::replace(&mut seen[usize::from(*b)], true));
        }
        assert!(seen.iter().all(|&s| s));
        // GPT-2's well-known stand-ins: 'Ġ' for space, 'Ċ' for newline.
        assert_eq!(decode_token(&table, "Ġhello"), Some(b" hello".to_vec()));
        assert_eq!(decode_token(&table, "Ċ"), Some(b"\n".to_vec()));
        assert_eq!(decode_token(&table, "é"), Some(vec![0xe9]));
        assert_eq!(decode_token(&table, "€"), None);
    }
}
