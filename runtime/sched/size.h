// Byte sizes as people type them ("6G", "512M", "1.5GiB", "123456") and as we print them.
//
// Units are binary whatever the spelling: K = KB = KiB = 2^10, M = MB = MiB = 2^20,
// G = GB = GiB = 2^30, T = TB = TiB = 2^40; "B" or no unit means bytes. Units are case-insensitive
// ("6g", "6gib"). A number with a unit may have a fraction ("1.5G"); the result is rounded down to
// whole bytes. A bare number of bytes must be a whole number. Surrounding blanks are ignored;
// blanks between the number and the unit are allowed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace moevk::sched {

// Parses a size; throws moevk::Error naming the input and what is wrong (empty, negative, unknown
// unit, fraction of a byte, overflow past 2^64-1).
uint64_t parse_size(std::string_view text);

// "1.50 GiB", "512.00 MiB", "17 B": the largest binary unit in which the value is >= 1, 2 decimals.
std::string format_size(uint64_t bytes);

}  // namespace moevk::sched
