// Rows of a bitmap that the guest put in several QXL data chunks, addressed
// where they are: the codecs and the classifier walk rows, so a chunked
// picture needs a pointer per row, not a copy of itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "display/draw.hpp"

namespace rs {

/// Fills `rows` with a pointer per row for `count` rows of `row_bytes`
/// bytes each, row i starting at logical offset (first_row + i) × stride +
/// offset in `data` (the chunks one after another). A row inside one chunk
/// is pointed to in place; a row that straddles two chunks is copied into
/// `spill` (which the pointers then borrow: keep it, unchanged, while they
/// are used). False, with `rows` empty, when the rows do not fit in data.
/// Plain computation; any shard.
bool chunk_rows(const draw::chunks &data, size_t stride, size_t first_row, size_t count,
                size_t offset, size_t row_bytes, std::vector<const uint8_t *> &rows,
                std::vector<uint8_t> &spill);

} // namespace rs
