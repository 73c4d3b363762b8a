// The structure-aware `.npy` mutator of the fuzzing campaign: rewrites the header (version, length, dtype, order,
// shape, keys) and the data's length, where byte flips mostly break only the magic string or the payload.

import SieveTestSupport

/// Structural mutations of `.npy` files, driven by a seeded generator so a case reproduces from its seed.
public enum NumPyMutator {
    static let descriptors = ["<f4", ">f4", "|b1", "<i8", "<i4", "<f2", "|u1", "|i1", "<f8", "<c8", "O", "<U3", "f4", "|V4", "<f4 ", "", "<bf16", "<i16"]
    static let orders = ["False", "True", "0", "None", "'False'", "false"]
    static let shapes = ["()", "(0,)", "(1,)", "(3, 64)", "(64, 3)", "(1, 64)", "(-1,)", "(4294967296, 4294967296)", "(99999999999999999999,)",
                         "(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,)",
                         "(3 64)", "(3,,64)", "[3, 64]", "(3, 64", "(0x10,)", "(1.5,)", "(2, 0, 2)"]

    /// One mutant of an `.npy` file: a rewritten header (some of version, dtype, order, shape, keys, stated length)
    /// over the old data, possibly cut or extended; nil when `bytes` has no readable header.
    public static func mutate(_ bytes: [UInt8], _ random: inout SplitMix64) -> [UInt8]? {
        guard bytes.count >= 10, bytes[0] == 0x93 else { return nil }
        let major = bytes[6]
        let headerStart = major == 1 ? 10 : 12
        guard bytes.count >= headerStart else { return nil }
        let headerLength = major == 1 ? Int(bytes[8]) | Int(bytes[9]) << 8
                                      : Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        guard headerLength <= bytes.count - headerStart else { return nil }
        var data = Array(bytes[(headerStart + headerLength)...])

        var descr = "'<f4'", order = "False", shape = "(3, 64)"
        var extra = ""
        for _ in 0...random.below(3) {
            switch random.below(5) {
            case 0: descr = "'\(descriptors[random.below(descriptors.count)])'"
            case 1: order = orders[random.below(orders.count)]
            case 2: shape = shapes[random.below(shapes.count)]
            case 3: extra = ["'extra': 1, ", "'shape': (2,), ", "'descr': '<f4', ", ""][random.below(4)]
            default: descr = random.below(2) == 0 ? "None" : "'<f4'"
            }
        }
        var fields = ["'descr': \(descr), ", "'fortran_order': \(order), ", "'shape': \(shape), "]
        if random.below(6) == 0 { fields.remove(at: random.below(fields.count)) }
        if random.below(6) == 0 { fields.shuffle(using: &random) }
        var header = Array(("{" + fields.joined() + extra + "}").utf8)
        // Padded to a multiple of 64 with spaces and a newline, as NumPy writes it (unless mutated below).
        let version: UInt8 = [1, 1, 1, 2, 3, 0, 4][random.below(7)]
        let start = version == 1 || version == 0 || version == 4 ? 10 : 12
        while (start + header.count + 1) % 64 != 0 { header.append(0x20) }
        header.append(0x0A)
        var statedLength = header.count
        if random.below(6) == 0 { statedLength = [0, 1, header.count - 1, header.count + 1, 65535, Int(UInt32.max)][random.below(6)] }

        switch random.below(5) {
        case 0: data = Array(data.prefix(random.below(data.count + 1)))
        case 1: data += (0..<(1 + random.below(8))).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        default: break
        }
        var result: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, random.below(10) == 0 ? 1 : 0]
        result += [UInt8(statedLength & 0xFF), UInt8((statedLength >> 8) & 0xFF)]
        if start == 12 { result += [UInt8((statedLength >> 16) & 0xFF), UInt8((statedLength >> 24) & 0xFF)] }
        return result + header + data
    }
}
