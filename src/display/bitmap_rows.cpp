#include "display/bitmap_rows.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace rs {

bool chunk_rows(const draw::chunks &data, size_t stride, size_t first_row, size_t count,
                size_t offset, size_t row_bytes, std::vector<const uint8_t *> &rows,
                std::vector<uint8_t> &spill) {
    rows.clear();
    spill.clear();
    if (count == 0) return true;
    // The last row's end, checked once (in 64 bits: no overflow below).
    const uint64_t end = (uint64_t{first_row} + count - 1) * stride + offset + row_bytes;
    if (end > data.size()) return false;
    rows.assign(count, nullptr);
    std::vector<std::pair<size_t, uint64_t>> straddling; // row, logical offset
    size_t part = 0;
    uint64_t part_base = 0;
    for (size_t i = 0; i < count; ++i) {
        const uint64_t off = (uint64_t{first_row} + i) * stride + offset;
        while (off >= part_base + data.parts[part].size()) {
            part_base += data.parts[part].size();
            ++part;
        }
        const auto &p = data.parts[part];
        if (off + row_bytes <= part_base + p.size())
            rows[i] = p.data() + (off - part_base);
        else
            straddling.emplace_back(i, off);
    }
    spill.resize(straddling.size() * row_bytes);
    part = 0;
    part_base = 0;
    for (size_t k = 0; k < straddling.size(); ++k) {
        uint8_t *dst = spill.data() + k * row_bytes;
        uint64_t off = straddling[k].second;
        size_t done = 0;
        while (done < row_bytes) {
            while (off >= part_base + data.parts[part].size()) {
                part_base += data.parts[part].size();
                ++part;
            }
            const auto &p = data.parts[part];
            const size_t n = static_cast<size_t>(
                std::min<uint64_t>(row_bytes - done, part_base + p.size() - off));
            std::memcpy(dst + done, p.data() + (off - part_base), n);
            done += n;
            off += n;
        }
        rows[straddling[k].first] = dst;
    }
    return true;
}

} // namespace rs
