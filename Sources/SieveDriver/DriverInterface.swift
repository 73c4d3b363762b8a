// What the command-line tool (and any other front end) sees of the compiler: the driver's own API plus,
// re-exported one by one, the few value types of lower layers that its requests and results carry.

// The CLI imports SieveDriver only. Each line below hands it exactly one type that appears in a driver
// request or is thrown by one, so that the CLI does not import, or depend on, the layers that define them.
@_exported import struct SieveIR.DiagnosticError
@_exported import struct SieveFormats.CalibrationSet
@_exported import struct SieveFormats.CalibrationProgress
@_exported import struct SieveIR.ProgressUpdate
@_exported import typealias SieveIR.ProgressHandler
@_exported import enum SieveCodegenC.WeightsPlacement
@_exported import struct SievePasses.PassManagerOptions
@_exported import enum SievePasses.PassSelection
@_exported import enum SievePasses.PruneMethod
@_exported import struct SievePasses.SparsityOptions
@_exported import struct SievePasses.OutlierAllocation
@_exported import struct SieveTarget.TargetDescription

import SieveIR
import SievePasses
import SieveTarget

/// The names of every graph pass, for help texts (`sieve opt -p`).
public var graphPassNames: [String] { PassRegistry.names }

/// The printed description of each target `--target` accepts (all of them when `names` is empty), the
/// host's own first; an unknown name is a diagnostic listing the known ones.
public func targetDescriptions(named names: [String]) throws(DiagnosticError) -> [String] {
    var descriptions: [String] = []
    for name in names.isEmpty ? TargetDescription.targetNames : names {
        descriptions.append(try TargetDescription.named(name).description)
    }
    return descriptions
}
