//! Reading a JPEG's header segments without decoding it: dimensions and colour components
//! from the SOF, the EXIF orientation, and the ICC profile's segments. Also builds the tiny EXIF block
//! that carries only an orientation, for files whose pixels are not turned upright.

/// One marker segment before the image data (`data` excludes the length field).
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub marker: u8,
    pub data: &'a [u8],
}

pub const APP1: u8 = 0xE1;
pub const APP2: u8 = 0xE2;
pub const COM: u8 = 0xFE;
const EXIF_ID: &[u8] = b"Exif\0\0";
const ICC_ID: &[u8] = b"ICC_PROFILE\0";

/// What the header says.
#[derive(Debug, Clone)]
pub struct Info<'a> {
    pub width: u32,
    pub height: u32,
    pub components: u8,
    /// Bits per sample (8, or 12 for rare medical/scientific files).
    pub precision: u8,
    /// Offset of the first start-of-scan marker.
    pub scan_start: usize,
    pub segments: Vec<Segment<'a>>,
}

impl<'a> Info<'a> {
    /// The EXIF payload (starting with `Exif\0\0`), if any.
    pub fn exif(&self) -> Option<&'a [u8]> {
        self.segments
            .iter()
            .find(|s| s.marker == APP1 && s.data.starts_with(EXIF_ID))
            .map(|s| s.data)
    }

    /// The EXIF orientation (1–8), if the file has one.
    pub fn orientation(&self) -> Option<u16> {
        let tiff = &self.exif()?[EXIF_ID.len()..];
        image::metadata::Orientation::from_exif_chunk(tiff).map(|o| u16::from(o.to_exif()))
    }

    /// The ICC profile segments as they are.
    pub fn icc_segments(&self) -> impl Iterator<Item = Segment<'a>> + '_ {
        self.segments
            .iter()
            .copied()
            .filter(|s| s.marker == APP2 && s.data.starts_with(ICC_ID))
    }

    /// Metadata a user may keep: EXIF, XMP (APP1), IPTC (APP13) and comments.
    pub fn metadata_segments(&self) -> impl Iterator<Item = Segment<'a>> + '_ {
        self.segments
            .iter()
            .copied()
            .filter(|s| matches!(s.marker, APP1 | 0xED | COM))
    }
}

/// Walks the segments up to the start of scan.
pub fn parse(b: &[u8]) -> Result<Info<'_>, String> {
    let bad = |why: &str| format!("not a valid JPEG: {why}");
    if !b.starts_with(&[0xFF, 0xD8]) {
        return Err(bad("no start-of-image marker"));
    }
    let mut pos = 2;
    let mut segments = Vec::new();
    let mut frame = None;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while b.get(pos) == Some(&0xFF) && b.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (b.get(pos), b.get(pos + 1)) else {
            return Err(bad("the header ends before the image data"));
        };
        pos += 2;
        if marker == 0xD8 || (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            continue;
        }
        if marker == 0xD9 {
            return Err(bad("no image data before the end marker"));
        }
        let len = b
            .get(pos..pos + 2)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
            .ok_or_else(|| bad("truncated segment"))?;
        let data = b
            .get(pos + 2..pos + len.max(2))
            .filter(|_| len >= 2)
            .ok_or_else(|| bad("truncated segment"))?;
        pos += len;
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
        if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            if data.len() < 6 {
                return Err(bad("short frame header"));
            }
            frame = Some((
                data[0],
                u32::from(u16::from_be_bytes([data[1], data[2]])),
                u32::from(u16::from_be_bytes([data[3], data[4]])),
                data[5],
            ));
        }
        if marker == 0xDA {
            let (precision, height, width, components) =
                frame.ok_or_else(|| bad("image data before the frame header"))?;
            return Ok(Info {
                width,
                height,
                components,
                precision,
                scan_start: pos - 2,
                segments,
            });
        }
        segments.push(Segment { marker, data });
    }
}

/// An APP1 payload holding only an EXIF orientation tag (big-endian TIFF, one IFD entry).
pub fn orientation_only_exif(orientation: u16) -> Vec<u8> {
    let mut v = EXIF_ID.to_vec();
    v.extend_from_slice(b"MM\0\x2A\0\0\0\x08"); // TIFF header, IFD0 at offset 8
    v.extend_from_slice(&1u16.to_be_bytes()); // one entry
    v.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    v.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    v.extend_from_slice(&1u32.to_be_bytes()); // count
    v.extend_from_slice(&orientation.to_be_bytes());
    v.extend_from_slice(&[0, 0]); // value padding
    v.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_segments(segs: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let img = image::RgbImage::from_fn(16, 8, |x, _| image::Rgb([x as u8 * 9, 0, 0]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new(&mut jpeg)
            .encode_image(&img)
            .unwrap();
        let mut out = jpeg[..2].to_vec();
        for (m, d) in segs {
            out.extend_from_slice(&[0xFF, *m]);
            out.extend_from_slice(&(d.len() as u16 + 2).to_be_bytes());
            out.extend_from_slice(d);
        }
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn reads_size_orientation_and_icc_chunks_in_order() {
        let mut icc2 = ICC_ID.to_vec();
        icc2.extend_from_slice(&[2, 2]);
        icc2.extend_from_slice(b"world");
        let mut icc1 = ICC_ID.to_vec();
        icc1.extend_from_slice(&[1, 2]);
        icc1.extend_from_slice(b"hello ");
        let bytes = with_segments(&[(APP1, orientation_only_exif(6)), (APP2, icc2), (APP2, icc1)]);
        let info = parse(&bytes).unwrap();
        assert_eq!((info.width, info.height, info.components), (16, 8, 3));
        assert_eq!(info.orientation(), Some(6));
        let icc: Vec<u8> = info
            .icc_segments()
            .flat_map(|s| s.data[14..].to_vec())
            .collect();
        assert_eq!(
            icc, b"worldhello ",
            "chunks are kept as they are, in file order"
        );
    }

    #[test]
    fn refuses_truncated_headers() {
        let bytes = with_segments(&[]);
        assert!(parse(&bytes[..20]).is_err());
        assert!(parse(b"\xFF\xD8\xFF").is_err());
    }
}
