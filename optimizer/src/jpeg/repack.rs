//! Lossless JPEG re-packing with libjpeg's transcoding API (mozjpeg): the quantized DCT
//! coefficients are read and written back unchanged, only the entropy coding is redone
//! (optimized Huffman tables, progressive scans chosen by mozjpeg's scan optimization).
//! No pixel can change. The caller picks which marker segments to carry over.
//!
//! libjpeg reports fatal errors through `error_exit`, which must not return. Ours unwinds
//! (the `C-unwind` ABI allows that through the C frames) and [`repack`] catches it, so a
//! corrupt file is an `Err` with libjpeg's message, never an abort. Warnings (corrupt but
//! readable data) are treated as errors too: re-packing a damaged stream would make the
//! damage look like a valid file.

use std::ffi::{c_int, c_uint, c_ulong};
use std::mem;
use std::panic::{catch_unwind, AssertUnwindSafe};

use mozjpeg_sys::*;

use super::markers::Segment;

/// Re-packs `input`, writing `keep` (APPn/COM segments) after the frame's own headers.
pub fn repack(input: &[u8], keep: &[Segment<'_>]) -> Result<Vec<u8>, String> {
    match catch_unwind(AssertUnwindSafe(|| unsafe { run(input, keep) })) {
        Ok(result) => result,
        Err(payload) => Err(payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "libjpeg failed".into())),
    }
}

/// Owns every libjpeg object so that an unwinding error still frees them. Boxed: libjpeg
/// keeps pointers to `err`, `out` and `out_len`.
struct Session {
    err: jpeg_error_mgr,
    src: jpeg_decompress_struct,
    dst: jpeg_compress_struct,
    out: *mut u8,
    out_len: c_ulong,
}

impl Drop for Session {
    fn drop(&mut self) {
        unsafe {
            // Both are safe on objects that were never created (their `mem` is null).
            jpeg_destroy_compress(&mut self.dst);
            jpeg_destroy_decompress(&mut self.src);
            if !self.out.is_null() {
                libc::free(self.out.cast());
            }
        }
    }
}

unsafe fn run(input: &[u8], keep: &[Segment<'_>]) -> Result<Vec<u8>, String> {
    let mut s: Box<Session> = Box::new(mem::zeroed());
    jpeg_std_error(&mut s.err);
    s.err.error_exit = Some(unwind_error_exit);
    s.err.emit_message = Some(count_warning);
    s.src.common.err = &mut s.err;
    s.dst.common.err = &mut s.err;
    jpeg_create_decompress(&mut s.src);
    jpeg_create_compress(&mut s.dst);

    jpeg_mem_src(&mut s.src, input.as_ptr(), input.len() as c_ulong);
    jpeg_read_header(&mut s.src, 1);
    let coefficients = jpeg_read_coefficients(&mut s.src);
    if s.err.num_warnings > 0 {
        return Err(format!(
            "the JPEG data is damaged ({}); it is left as it is",
            message(&mut s.src.common)
        ));
    }
    // Sets the defaults of mozjpeg's max-compression profile (optimized Huffman coding and
    // scan optimization), then the source's colour space, sampling and quantization tables.
    jpeg_copy_critical_parameters(&s.src, &mut s.dst);
    s.dst.optimize_coding = 1;
    jpeg_simple_progression(&mut s.dst);
    let (out, out_len): (*mut *mut u8, *mut c_ulong) = (&mut s.out, &mut s.out_len);
    jpeg_mem_dest(&mut s.dst, out, out_len);
    jpeg_write_coefficients(&mut s.dst, coefficients);
    for seg in keep {
        jpeg_write_marker(
            &mut s.dst,
            c_int::from(seg.marker),
            seg.data.as_ptr(),
            seg.data.len() as c_uint,
        );
    }
    jpeg_finish_compress(&mut s.dst);
    jpeg_finish_decompress(&mut s.src);
    if s.out.is_null() {
        return Err("libjpeg produced no output".into());
    }
    Ok(std::slice::from_raw_parts(s.out, s.out_len as usize).to_vec())
}

/// libjpeg's text for the last message.
unsafe fn message(cinfo: &mut jpeg_common_struct) -> String {
    let err = &*cinfo.err;
    let Some(format) = err.format_message else {
        return format!("libjpeg message {}", err.msg_code);
    };
    let mut buffer = [0u8; 80];
    // The binding declares the buffer as shared, but libjpeg writes into it.
    let format: unsafe extern "C-unwind" fn(&mut jpeg_common_struct, &mut [u8; 80]) =
        mem::transmute(format);
    format(cinfo, &mut buffer);
    let text = buffer.split(|&c| c == 0).next().unwrap_or_default();
    String::from_utf8_lossy(text).into_owned()
}

extern "C-unwind" fn unwind_error_exit(cinfo: &mut jpeg_common_struct) {
    let text = unsafe { message(cinfo) };
    // resume_unwind skips the panic hook: this is an expected, reported error.
    std::panic::resume_unwind(Box::new(format!("libjpeg: {text}")));
}

extern "C-unwind" fn count_warning(cinfo: &mut jpeg_common_struct, level: c_int) {
    if level < 0 {
        unsafe { (*cinfo.err).num_warnings += 1 };
    }
}
