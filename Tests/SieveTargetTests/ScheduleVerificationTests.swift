// The verifier's hook: SieveIR alone checks only where a schedule may sit, SieveTarget's checks add the rest of
// rule 12, and their diagnostics come in op order with the IR's own.

import SieveIR
import SieveTarget
import Testing

@Suite struct ScheduleVerificationTests {
    /// A relu with a schedule (op 2), a matmul whose schedule's parameters are out of range (op 3), and a
    /// matmul whose result type is wrong (op 4, the IR's own rule 5).
    static let text = """
        graph @g(%x: tensor<1x8xf32>) -> (tensor<1x8xf32>, tensor<1x4xf32>, tensor<1x3xf32>) {
          %d = const @d : tensor<4x8xf32>
          %r = relu %x {schedule = dense_scalar<parallel = none>} : tensor<1x8xf32>
          %a = matmul %x, %d {transpose_b = true, schedule = dense_tile<rows = 8, vectors = 8, parallel = none>} : tensor<1x4xf32>
          %b = matmul %x, %d {transpose_b = true} : tensor<1x3xf32>
          return %r, %a, %b
        }
        const @d : tensor<4x8xf32> = splat<0.5>

        """

    func graph() throws -> Graph { try #require(try Parser.parse(Self.text).graphs.first) }

    @Test func withoutTheHookTheIRChecksOnlyWhereAScheduleSits() throws {
        let messages = Verifier.diagnostics(for: try graph()).map(\.message)
        #expect(messages.count == 2, "\(messages)")
        #expect(messages.first?.hasPrefix("relu runs no matrix-product kernel") == true, "\(messages)")
        #expect(!messages.contains { $0.contains("schedule:") })
    }

    @Test func targetChecksAddTheRestOfRuleTwelveInOpOrder() throws {
        let messages = Verifier.diagnostics(for: try graph(), checks: Verifier.targetChecks).map(\.message)
        #expect(messages.count == 3, "\(messages)")
        guard messages.count == 3 else { return }
        #expect(messages[0].hasPrefix("relu runs no matrix-product kernel"))
        #expect(messages[1] == "invalid schedule: dense_tile needs rows * vectors <= 32 accumulators, found 8 * 8")
        #expect(messages[2].hasPrefix("result type is tensor<1x3xf32>"), "\(messages[2])")
    }

    @Test func aScheduleThatSuitsItsOpPasses() throws {
        let valid = Self.text
            .replacingOccurrences(of: " {schedule = dense_scalar<parallel = none>}", with: "")
            .replacingOccurrences(of: "dense_tile<rows = 8, vectors = 8, parallel = none>", with: "dense_dot<weight_rows = 4, parallel = none>")
            .replacingOccurrences(of: "tensor<1x3xf32>", with: "tensor<1x4xf32>")
        let graph = try #require(try Parser.parse(valid).graphs.first)
        #expect(Verifier.diagnostics(for: graph, checks: Verifier.targetChecks).isEmpty)
        #expect(throws: Never.self) { try Verifier.verify(graph, checks: Verifier.targetChecks) }
    }
}
