//! G3 no newer edit is clobbered: when the user changes (or deletes) a file while its old
//! content is at ShortPixel, the old result is dropped; the new content is kept and then
//! optimized on its own — never overwritten by the result of what it used to be.
//!
//! The edits are made from the emulator's upload hook, i.e. deterministically after the
//! agent read and sent the file and before it gets an answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use image::ImageFormat;
use shortpixel_emulator::Emulator;

use crate::support::*;

/// The edit is a different picture with different dimensions, so "which content is this"
/// can be told from the decoded size alone: the old result would be 120×90.
const EDIT: (u32, u32) = (150, 100);

#[test]
fn g3_file_edited_between_upload_and_replace_is_not_clobbered() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let old_hash = hash(&path);
    let edit = images::photo_jpeg(EDIT.0, EDIT.1, 77);
    let edit_hash = blake3::hex(&edit);
    let edited = Arc::new(AtomicBool::new(false));
    emu.on_upload({
        let (path, edit, edited, old_hash) =
            (path.clone(), edit.clone(), edited.clone(), old_hash.clone());
        move |file| {
            if file.hash == old_hash && !edited.swap(true, Ordering::SeqCst) {
                write_file(&path, &edit);
            }
        }
    });

    env.run_once().expect_code(0);

    assert!(edited.load(Ordering::SeqCst), "the upload hook never fired");
    assert_eq!(
        images::decode(&path),
        (ImageFormat::Jpeg, EDIT.0, EDIT.1),
        "the user's edit was overwritten by the result of the old content"
    );
    if read(&path) != edit {
        // Already optimized in the same run: then it came from the edit's own upload.
        assert_eq!(emu.uploads_of(&edit_hash), 1, "{}", log_summary(&emu));
        assert_optimized_in_place(&env, &path, &edit);
    }

    // Whatever was left queued is finished by the next run, from the edit.
    env.run_once().expect_code(0);
    assert_optimized_in_place(&env, &path, &edit);
    assert_eq!(emu.uploads_of(&old_hash), 1);
    assert_eq!(emu.uploads_of(&edit_hash), 1, "{}", log_summary(&emu));
}

#[test]
fn g3_file_edited_while_its_result_is_pending_is_not_clobbered_on_the_next_run() {
    let emu = Emulator::start_with_key(KEY, 1000);
    // Ready on the 6th poll; the first run polls at most twice (see pending.rs).
    emu.pending_polls(6);
    let env = TestEnv::new();
    let patient = Config::emulator(&emu);
    env.configure(&patient.clone().hasty());
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    env.run_once().expect_code(0);
    assert_eq!(
        env.status().total("pending"),
        1,
        "precondition: the result is still pending"
    );

    let edit = images::photo_jpeg(EDIT.0, EDIT.1, 78);
    write_file(&path, &edit);
    emu.pending_polls(0);
    env.configure(&patient);
    env.run_once().expect_code(0);

    assert_eq!(
        images::decode(&path),
        (ImageFormat::Jpeg, EDIT.0, EDIT.1),
        "the pending result of the old content overwrote the edit"
    );
    assert_optimized_in_place(&env, &path, &edit);
}

#[test]
fn g3_file_deleted_during_upload_is_not_brought_back() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let other = env.add_jpeg("b.jpg", 100, 80, 2);
    let other_original = read(&other);
    let old_hash = hash(&path);
    emu.on_upload({
        let path = path.clone();
        move |file| {
            if file.hash == old_hash {
                let _ = std::fs::remove_file(&path);
            }
        }
    });

    let out = env.run_once();

    assert!(
        matches!(out.code, Some(0 | 1)),
        "the run must finish normally:\n{out}"
    );
    assert!(
        !path.exists(),
        "the deleted file was recreated from its optimized result"
    );
    assert_optimized_in_place(&env, &other, &other_original);
}
