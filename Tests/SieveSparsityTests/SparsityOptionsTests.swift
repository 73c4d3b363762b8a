// Tests of the one set of sparsity options: the same defaults for the driver, the pass and its
// textual options, and one parser of `N:M|auto` whose diagnostics quote the options as written.

import SieveIR
import SievePasses
import Testing

@Suite struct SparsityOptionsTests {
    @Test func everyEntryPointHasTheSameDefaults() throws {
        let options = SparsityOptions()
        #expect(SparsityOptions.defaultMinWeights == 4096)
        #expect(options.minWeights == SparsityOptions.defaultMinWeights)
        #expect(options.allocation.minWeights == SparsityAllocation().minWeights)
        #expect(options.allocation.samples == SparsityAllocation().samples)
        #expect(options.sparsity == SparsityAllocation().mode)
        let parsed = try #require(try PassRegistry.parsePipeline("sparsity-allocation{sparsity=2:4}").first as? SparsityAllocation)
        #expect(parsed.minWeights == options.minWeights && parsed.samples == options.sensitivitySamples)
    }

    @Test func oneParserServesFlagsAndPassOptions() throws {
        #expect(try SparsityOptions.mode("1:4", maxError: nil, targetDensity: nil) == .uniform(NMPattern(n: 1, m: 4)))
        #expect(try SparsityOptions.mode("auto", maxError: 0.1, targetDensity: nil) == .maxError(0.1))
        #expect(try SparsityOptions.mode("auto", maxError: nil, targetDensity: 0.5, spelling: .passOption) == .targetDensity(0.5))
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "" } catch let error as DiagnosticError { return error.diagnostics.first?.message ?? "" } catch { return "\(error)" }
        }
        #expect(message { _ = try SparsityOptions.mode("auto", maxError: nil, targetDensity: nil) }
            == "--sparsity auto needs --max-error E, --target-density D or --target-speedup X")
        #expect(message { _ = try SparsityOptions.mode("auto", maxError: nil, targetDensity: nil, spelling: .passOption) }
            == "sparsity=auto needs max-error=E, target-density=D or target-speedup=X")
        #expect(message { _ = try SparsityOptions.mode("2:4", maxError: 0.1, targetDensity: nil) }
            == "--max-error goes with --sparsity auto, not a fixed pattern")
        #expect(message { _ = try SparsityOptions.mode("2:4", maxError: nil, targetDensity: 0.5, targetSpeedup: 1.5) }
            == "--target-density, --target-speedup go with --sparsity auto, not a fixed pattern")
        #expect(message { _ = try SparsityOptions.mode("auto", maxError: 0.1, targetDensity: nil, targetSpeedup: 1.5) }
            == "give one of --max-error, --target-speedup, not several")
        #expect(message { _ = try SparsityOptions.mode("auto", maxError: nil, targetDensity: nil, targetSpeedup: 0.5) }
            == "--target-speedup is a speed-up over the dense model, at least 1, found 0.5")
        #expect(try SparsityOptions.mode("auto", maxError: nil, targetDensity: nil, targetSpeedup: 1.5) == .targetSpeedup(1.5))
        #expect(message { _ = try SparsityOptions.mode("3:2", maxError: nil, targetDensity: nil) }.hasPrefix("--sparsity 3:2: "))
        #expect(message { _ = try PassRegistry.parsePipeline("sparsity-allocation{sparsity=auto}") }
            .hasPrefix("sparsity-allocation: sparsity=auto needs max-error=E, target-density=D or target-speedup=X"))
        #expect(message { _ = try PassRegistry.parsePipeline("sparsity-allocation{sparsity=2:4,target-density=0.5}") }
            .hasPrefix("sparsity-allocation: target-density goes with sparsity=auto, not a fixed pattern"))
        // A budget alone means auto, as it did before the parsers were one.
        let budgetOnly = try #require(try PassRegistry.parsePipeline("sparsity-allocation{max-error=0.2}").first as? SparsityAllocation)
        #expect(budgetOnly.mode == .maxError(0.2))
        let speed = try #require(try PassRegistry.parsePipeline("sparsity-allocation{target-speedup=1.5,target=x86-64-v3,threads=2}").first
            as? SparsityAllocation)
        #expect(speed.mode == .targetSpeedup(1.5) && speed.target?.name == "x86-64-v3" && speed.threads == 2)
    }
}
