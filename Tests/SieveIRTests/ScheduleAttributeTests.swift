// The `schedule` attribute's text form: every kernel variant prints and parses back to the same schedule, and
// malformed schedules are parse errors that say what is wrong.

import SieveIR
import SieveTestSupport
import Testing

@Suite struct ScheduleAttributeTests {
    @Test func everyVariantRoundTripsThroughText() throws {
        let schedules: [(Int, NMPattern?, KernelSchedule)] = [
            (1, nil, KernelSchedule(variant: .denseDot(weightRows: 4), parallel: .columns)),
            (32, nil, KernelSchedule(variant: .densePanels(DenseProductSchedule(variant: .registerTile, panelWidth: 32, rowTile: 6, depthBlock: 64,
                                                                                rowBlock: 12, prefetchDistance: 0)),
                                     packing: .panels, parallel: .none,
                                     estimate: ScheduleEstimate(nanoseconds: 12, bytes: 34, flops: 56, bound: .compute, threads: 1))),
            (2, nil, KernelSchedule(variant: .densePanels(DenseProductSchedule(variant: .streaming, panelWidth: 16, rowTile: 2, depthBlock: 64,
                                                                               rowBlock: 2, prefetchDistance: 1024)),
                                    packing: .panels, parallel: .columns)),
            (32, nil, KernelSchedule(variant: .denseScalar, parallel: .columns)),
            (1, NMPattern(n: 2, m: 4), KernelSchedule(variant: .nmDot, parallel: .rows)),
            (1, NMPattern(n: 2, m: 4), KernelSchedule(variant: .nmGather, parallel: .none)),
            (16, NMPattern(n: 2, m: 4), KernelSchedule(variant: .nmBroadcast, parallel: .rows)),
            (16, NMPattern(n: 2, m: 4), KernelSchedule(
                variant: .nmBlocked(kBlock: 64, tileRows: 7, prefetchRows: 3), parallel: .rowTiles,
                estimate: ScheduleEstimate(nanoseconds: 1, bytes: 2, flops: 3, bound: .memory, threads: 2, measuredNanoseconds: 4))),
        ]
        for (rows, pattern, schedule) in schedules {
            var (graph, index) = productGraph(rows: rows, n: 8, k: 64, pattern: pattern)
            graph.operations[index].schedule = schedule
            let text = graph.print()
            let parsed = try #require(try Parser.parse(text).graphs.first)
            #expect(parsed.operations[index].schedule == schedule, "\(text)")
            #expect(parsed.print() == text)
        }
    }

    @Test func malformedSchedulesAreParseErrors() throws {
        let base = "graph @g(%x: tensor<1x8xf32>) -> tensor<1x4xf32> {\n  %d = const @d : tensor<4x8xf32>\n  %y = matmul %x, %d {transpose_b = true, schedule = SCHEDULE} : tensor<1x4xf32>\n  return %y\n}\nconst @d : tensor<4x8xf32> = splat<0.5>\n"
        let cases: [(String, String)] = [
            ("dense_dot<parallel = none>", "missing attribute 'weight_rows'"),
            ("dense_dot<weight_rows = 2, parallel = sideways>", "unknown parallel axis 'sideways'"),
            ("dense_dot<weight_rows = 2, packing = zigzag, parallel = none>", "unknown packing 'zigzag'"),
            ("dense_dot<weight_rows = 2, parallel = none, colour = 3>", "has no attribute 'colour'"),
            ("dense_dot<weight_rows = 2, parallel = none, estimate = cost<time_ns = 1>>", "missing attribute 'bound'"),
            ("relu", "must be a variant such as"),
        ]
        for (schedule, message) in cases {
            do {
                _ = try Parser.parse(base.replacingOccurrences(of: "SCHEDULE", with: schedule))
                Issue.record("\(schedule) parsed")
            } catch {
                #expect(error.description.contains(message), "\(schedule): \(error.description)")
            }
        }
    }
}
