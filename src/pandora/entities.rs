//! The text encodings Pandora stores: HTML entities (the console's and the server's
//! `safe_input` encode `é` as `&eacute;`, `'` as `&#039;`, `&` as `&amp;`, `<` as `&lt;`,
//! spaces and control characters as `&#x20;`) and the bytes of a UTF-8 or Latin-1 database
//! column (reference pandora-db.md). Pure: bytes and text in, text out.

/// HTML 4.01 named entities of Latin-1, U+00A0 (`nbsp`) to U+00FF (`yuml`), in code point
/// order: PHP's `htmlentities`, which the console uses, writes these names.
const LATIN1_NAMES: [&str; 96] = [
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
    "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
    "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
    "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute",
    "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve", "Oacute",
    "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute",
    "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
    "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde",
    "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc",
    "uuml", "yacute", "thorn", "yuml",
];

/// The other HTML 4.01 named entities (markup, Latin Extended, punctuation, Greek, symbols)
/// and XHTML's `apos`.
const OTHER_NAMES: &[(&str, u32)] = &[
    ("quot", 34),
    ("amp", 38),
    ("apos", 39),
    ("lt", 60),
    ("gt", 62),
    ("OElig", 338),
    ("oelig", 339),
    ("Scaron", 352),
    ("scaron", 353),
    ("Yuml", 376),
    ("fnof", 402),
    ("circ", 710),
    ("tilde", 732),
    ("Alpha", 913),
    ("Beta", 914),
    ("Gamma", 915),
    ("Delta", 916),
    ("Epsilon", 917),
    ("Zeta", 918),
    ("Eta", 919),
    ("Theta", 920),
    ("Iota", 921),
    ("Kappa", 922),
    ("Lambda", 923),
    ("Mu", 924),
    ("Nu", 925),
    ("Xi", 926),
    ("Omicron", 927),
    ("Pi", 928),
    ("Rho", 929),
    ("Sigma", 931),
    ("Tau", 932),
    ("Upsilon", 933),
    ("Phi", 934),
    ("Chi", 935),
    ("Psi", 936),
    ("Omega", 937),
    ("alpha", 945),
    ("beta", 946),
    ("gamma", 947),
    ("delta", 948),
    ("epsilon", 949),
    ("zeta", 950),
    ("eta", 951),
    ("theta", 952),
    ("iota", 953),
    ("kappa", 954),
    ("lambda", 955),
    ("mu", 956),
    ("nu", 957),
    ("xi", 958),
    ("omicron", 959),
    ("pi", 960),
    ("rho", 961),
    ("sigmaf", 962),
    ("sigma", 963),
    ("tau", 964),
    ("upsilon", 965),
    ("phi", 966),
    ("chi", 967),
    ("psi", 968),
    ("omega", 969),
    ("thetasym", 977),
    ("upsih", 978),
    ("piv", 982),
    ("ensp", 8194),
    ("emsp", 8195),
    ("thinsp", 8201),
    ("zwnj", 8204),
    ("zwj", 8205),
    ("lrm", 8206),
    ("rlm", 8207),
    ("ndash", 8211),
    ("mdash", 8212),
    ("lsquo", 8216),
    ("rsquo", 8217),
    ("sbquo", 8218),
    ("ldquo", 8220),
    ("rdquo", 8221),
    ("bdquo", 8222),
    ("dagger", 8224),
    ("Dagger", 8225),
    ("bull", 8226),
    ("hellip", 8230),
    ("permil", 8240),
    ("prime", 8242),
    ("Prime", 8243),
    ("lsaquo", 8249),
    ("rsaquo", 8250),
    ("oline", 8254),
    ("frasl", 8260),
    ("euro", 8364),
    ("image", 8465),
    ("weierp", 8472),
    ("real", 8476),
    ("trade", 8482),
    ("alefsym", 8501),
    ("larr", 8592),
    ("uarr", 8593),
    ("rarr", 8594),
    ("darr", 8595),
    ("harr", 8596),
    ("crarr", 8629),
    ("lArr", 8656),
    ("uArr", 8657),
    ("rArr", 8658),
    ("dArr", 8659),
    ("hArr", 8660),
    ("forall", 8704),
    ("part", 8706),
    ("exist", 8707),
    ("empty", 8709),
    ("nabla", 8711),
    ("isin", 8712),
    ("notin", 8713),
    ("ni", 8715),
    ("prod", 8719),
    ("sum", 8721),
    ("minus", 8722),
    ("lowast", 8727),
    ("radic", 8730),
    ("prop", 8733),
    ("infin", 8734),
    ("ang", 8736),
    ("and", 8743),
    ("or", 8744),
    ("cap", 8745),
    ("cup", 8746),
    ("int", 8747),
    ("there4", 8756),
    ("sim", 8764),
    ("cong", 8773),
    ("asymp", 8776),
    ("ne", 8800),
    ("equiv", 8801),
    ("le", 8804),
    ("ge", 8805),
    ("sub", 8834),
    ("sup", 8835),
    ("nsub", 8836),
    ("sube", 8838),
    ("supe", 8839),
    ("oplus", 8853),
    ("otimes", 8855),
    ("perp", 8869),
    ("sdot", 8901),
    ("lceil", 8968),
    ("rceil", 8969),
    ("lfloor", 8970),
    ("rfloor", 8971),
    ("lang", 9001),
    ("rang", 9002),
    ("loz", 9674),
    ("spades", 9824),
    ("clubs", 9827),
    ("hearts", 9829),
    ("diams", 9830),
];

/// The character a named entity stands for (names are case-sensitive: `Eacute` ≠ `eacute`).
fn named(name: &str) -> Option<char> {
    if let Some(i) = LATIN1_NAMES.iter().position(|n| *n == name) {
        return char::from_u32(0xA0 + i as u32);
    }
    OTHER_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, c)| char::from_u32(*c))
}

/// The character of `&#233;` / `&#xE9;` (without `&#` and `;`); `None` for what is not a
/// Unicode scalar value (a surrogate, beyond U+10FFFF).
fn numeric(num: &str) -> Option<char> {
    let code = match num.strip_prefix(['x', 'X']) {
        Some(hex) if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
            u32::from_str_radix(hex, 16).ok()?
        }
        Some(_) => return None,
        None if !num.is_empty() && num.chars().all(|c| c.is_ascii_digit()) => num.parse().ok()?,
        None => return None,
    };
    char::from_u32(code)
}

/// Decodes HTML entities once: named (HTML 4.01 and `&apos;`), decimal `&#039;` and hex
/// `&#x20;`. What is not an entity stays as it is, and the output is never decoded again, so
/// `&amp;#39;` (a literal `&#39;` typed by someone) becomes the text `&#39;`, not a quote.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        // The longest entity is `&thetasym;` or `&#x10FFFF;`: look no further than that.
        let decoded = tail
            .char_indices()
            .take(12)
            .find(|&(_, c)| c == ';')
            .and_then(|(end, _)| {
                let body = &tail[1..end];
                let c = match body.strip_prefix('#') {
                    Some(num) => numeric(num),
                    None => named(body),
                }?;
                Some((c, end + 1))
            });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Windows-1252's characters for the bytes 0x80-0x9F, which MariaDB's `latin1` character set
/// uses; the five bytes Windows-1252 leaves undefined map to the C1 control of the same value.
const CP1252_HIGH: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
];

/// The text of a database column read as raw bytes. A `utf8mb4` column holds UTF-8; a
/// `latin1` column holds either Latin-1 (one byte per accented letter, as text written over a
/// latin1 connection) or, on installations whose clients sent UTF-8 over a latin1 connection,
/// UTF-8 bytes. Valid UTF-8 is taken as UTF-8 (Latin-1 text with accents is practically never
/// valid UTF-8); anything else is MariaDB's latin1 (Windows-1252).
pub fn text_from_column(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes
            .iter()
            .map(|&b| match b {
                0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)],
                _ => char::from(b),
            })
            .collect(),
    }
}

/// A column as Pandora stored it, as text for people: bytes to text (see `text_from_column`),
/// then entities decoded once.
pub fn stored_text(bytes: &[u8]) -> String {
    decode_entities(&text_from_column(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_hold_every_html4_entity_once() {
        assert_eq!(named("nbsp"), Some('\u{a0}'));
        assert_eq!(named("eacute"), Some('é'));
        assert_eq!(named("Eacute"), Some('É'));
        assert_eq!(named("szlig"), Some('ß'));
        assert_eq!(named("yuml"), Some('ÿ'));
        assert_eq!(named("euro"), Some('€'));
        assert_eq!(named("hellip"), Some('…'));
        assert_eq!(named("EACUTE"), None);
        // 96 Latin-1 + 157 others = HTML 4.01's 252 and XHTML's apos.
        assert_eq!(LATIN1_NAMES.len() + OTHER_NAMES.len(), 253);
        let mut all: Vec<&str> = LATIN1_NAMES.to_vec();
        all.extend(OTHER_NAMES.iter().map(|(n, _)| *n));
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 253, "a name is listed twice");
    }

    #[test]
    fn console_encoded_text_is_decoded() {
        assert_eq!(
            decode_entities(
                "Caf&eacute;&#x20;&#40;ma&ntilde;ana&#41; O&#039;Brien &amp; &lt;b&gt;"
            ),
            "Café (mañana) O'Brien & <b>"
        );
        assert_eq!(decode_entities("&quot;x&quot;&#92;n&#x0A;"), "\"x\"\\n\n");
    }

    #[test]
    fn decoding_happens_once() {
        // A literal `&#39;` typed into an alias is stored as `&amp;#39;`: it must stay text.
        assert_eq!(
            decode_entities("&amp;#39;$(id)&amp;#39;"),
            "&#39;$(id)&#39;"
        );
        assert_eq!(decode_entities("&amp;amp;"), "&amp;");
    }

    #[test]
    fn what_is_not_an_entity_stays() {
        assert_eq!(
            decode_entities("AT&T & &bogus; &#xZZ; &#; &#55296; &#1114112; a&b;c &"),
            "AT&T & &bogus; &#xZZ; &#; &#55296; &#1114112; a&b;c &"
        );
        assert_eq!(decode_entities("🚀 &#128640; &#x1F680;"), "🚀 🚀 🚀");
    }

    #[test]
    fn command_as_the_console_stores_it_is_decoded() {
        assert_eq!(
            decode_entities("O&#039;Brien &amp; &#39;x&#39; &bogus; &"),
            "O'Brien & 'x' &bogus; &"
        );
    }

    #[test]
    fn utf8_and_latin1_columns_give_the_same_text() {
        assert_eq!(text_from_column("Café 🚀".as_bytes()), "Café 🚀");
        assert_eq!(text_from_column(b"Caf\xe9"), "Café");
        assert_eq!(text_from_column(b"\x80 \x93ok\x94 \x81"), "€ “ok” \u{81}");
        assert_eq!(stored_text(b"Se&ntilde;or Caf\xe9"), "Señor Café");
        assert_eq!(stored_text("Se&ntilde;or 🚀".as_bytes()), "Señor 🚀");
    }
}
