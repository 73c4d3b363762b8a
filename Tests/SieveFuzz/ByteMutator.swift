// The byte mutator of the fuzzing campaign: format-blind edits (bit flips, truncations, deleted, duplicated and
// random runs, inflated protobuf varints, huge numbers where digits were) applied to any input file.

import SieveTestSupport

/// Format-blind mutations of a byte string, driven by a seeded generator so a case reproduces from its seed.
public enum ByteMutator {
    /// Bytes worth writing into text formats: the IR's syntax characters, digits, and bytes that are not UTF-8.
    static let interestingBytes: [UInt8] = Array("{}()<>[],:=%@\"'x0123456789-.e \n/#!".utf8) + [0x00, 0x7F, 0x80, 0xC3, 0xFF]

    /// Numbers that break sizes and indices when written over digits.
    static let hugeNumbers = ["99999999999999999999", "4294967296", "2147483648", "-1", "0", "1e308", "nan", "-0"]

    /// One mutant of `bytes` (one to three edits).
    public static func mutate(_ bytes: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        var result = bytes
        for _ in 0...random.below(3) { result = edit(result, &random) }
        return result
    }

    /// One edit.
    static func edit(_ bytes: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        var data = bytes
        guard !data.isEmpty else { return (0..<random.below(64)).map { _ in UInt8(truncatingIfNeeded: random.next()) } }
        switch random.below(10) {
        case 0:  // flip bits
            for _ in 0...random.below(8) { data[random.below(data.count)] ^= UInt8(1 << random.below(8)) }
        case 1:  // overwrite with interesting bytes
            for _ in 0...random.below(4) { data[random.below(data.count)] = interestingBytes[random.below(interestingBytes.count)] }
        case 2:  // truncate
            data = Array(data.prefix(random.below(data.count)))
        case 3:  // delete a run
            let start = random.below(data.count)
            data.removeSubrange(start..<min(data.count, start + 1 + random.below(48)))
        case 4:  // duplicate a run somewhere else
            let start = random.below(data.count)
            let piece = Array(data[start..<min(data.count, start + 1 + random.below(64))])
            data.insert(contentsOf: piece, at: random.below(data.count + 1))
        case 5:  // insert random bytes
            let run = (0...random.below(16)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            data.insert(contentsOf: run, at: random.below(data.count + 1))
        case 6:  // set continuation bits: protobuf varints (lengths, dimensions) become huge
            let index = random.below(data.count)
            for offset in 0..<min(5, data.count - index) { data[index + offset] |= 0x80 }
        case 7:  // write a huge or odd number where a digit was
            let digits = data.indices.filter { data[$0] >= 0x30 && data[$0] <= 0x39 }
            guard !digits.isEmpty else { return data }
            let at = digits[random.below(digits.count)]
            data.insert(contentsOf: Array(hugeNumbers[random.below(hugeNumbers.count)].utf8), at: at)
        case 8:  // swap two runs
            let a = random.below(data.count), b = random.below(data.count)
            let length = min(1 + random.below(32), data.count - max(a, b))
            for offset in 0..<length { data.swapAt(a + offset, b + offset) }
        default:  // overwrite with random bytes
            for _ in 0...random.below(4) { data[random.below(data.count)] = UInt8(truncatingIfNeeded: random.next()) }
        }
        return data
    }
}
