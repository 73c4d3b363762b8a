// report.html: written beside report.md, self-contained, and rendered by headless Chromium with the graph
// (every layer coloured by the pattern report.json gives it), the per-layer charts and the allocation curve laid out.

import Foundation
import Testing

/// Runs headless Chromium on a page and returns the DOM it ends with (`--dump-dom`).
func chromiumDOM(of page: URL) throws -> (status: Int32, output: String) {
    try runTool("chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", "--dump-dom",
                             page.absoluteString])
}

@Suite(.serialized) struct HTMLReportTests {
    static let mlp = exampleFolder.appendingPathComponent("mlp.onnx").path

    /// Compiles the example MLP with `--sparsity auto` into `folder/out` and returns the folder.
    static func compileAuto(in folder: URL) throws -> URL {
        let out = folder.appendingPathComponent("out")
        let outcome = try runSieve(["compile", mlp, "--input-shape", "input=1x64", "-o", out.path, "--sparsity", "auto",
                                    "--target-density", "0.6", "--prune", "wanda",
                                    "--calibration", exampleFolder.appendingPathComponent("mlp.calibration.npy").path], timeout: 300)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        return out
    }

    /// The page is written with the artifact, fetches nothing, and shows every layer with its pattern from report.json.
    @Test func reportPageShowsEveryLayerWithItsPattern() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = try HTMLReportTests.compileAuto(in: folder)
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        for reference in ["src=", "href=", "http://", "https://", "<script", "@import"] {
            #expect(!html.contains(reference), "report.html refers to something outside itself: \(reference)")
        }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as? [String: Any]
        let layers = try #require(json?["layers"] as? [[String: Any]])
        let curve = try #require(json?["curve"] as? [[String: Any]])
        #expect(curve.count >= 2, "auto allocation took no step")
        #expect((curve.first?["density"] as? Double) == 1, "the curve starts from every layer dense")
        // Every prunable layer's pattern appears on a node of the graph, in the layer table and in the bytes chart.
        for layer in layers {
            let name = try #require(layer["name"] as? String), pattern = try #require(layer["pattern"] as? String)
            #expect(html.contains("data-pattern=\"\(pattern)\""), "no graph node has pattern \(pattern)")
            #expect(html.contains("<td>\(name)</td>") || html.contains("\(name) before"), "layer \(name) is missing")
        }
        let sparse = layers.filter { $0["pattern"] as? String != "dense" }.count
        #expect(sparse >= 1, "auto at density 0.6 made no layer sparse")
    }

    /// `--allocate owl`: the report gives each layer's outlier ratio, the curve carries measured errors only, and the
    /// page plots those; the flag is refused with a fixed pattern.
    @Test func owlAllocationReportsOutlierRatiosAndPlotsMeasuredErrors() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("out")
        let calibration = exampleFolder.appendingPathComponent("mlp.calibration.npy").path
        let outcome = try runSieve(["compile", HTMLReportTests.mlp, "--input-shape", "input=1x64", "-o", out.path, "--sparsity", "auto",
                                    "--target-density", "0.6", "--allocate", "owl", "--owl-spread", "0.25", "--calibration", calibration],
                                   timeout: 300)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as? [String: Any]
        let layers = try #require(json?["layers"] as? [[String: Any]])
        #expect(layers.contains { $0["outlierRatio"] is Double }, "\(layers)")
        #expect((json?["sparsity"] as? String)?.contains("allocate owl (threshold 5.0, spread 0.25)") == true, "\(json?["sparsity"] ?? "")")
        let curve = try #require(json?["curve"] as? [[String: Any]])
        #expect(curve.allSatisfy { $0["estimatedError"] == nil } && curve.contains { $0["chosen"] as? Bool == true && $0["measuredError"] is Double })
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains(">measured error</text>") && html.contains("circle class=\"point chosen\""))

        let refused = try runSieve(["compile", HTMLReportTests.mlp, "--input-shape", "input=1x64", "-o", folder.appendingPathComponent("fixed").path,
                                    "--sparsity", "2:4", "--allocate", "owl"])
        #expect(refused.status == 1 && refused.stderr.contains("--allocate owl ranks layers for --sparsity auto"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("fixed").path))
    }

    /// Headless Chromium lays the page out: the graph, three charts and the curve have a size, every node of the
    /// graph a box, and the chosen allocation is marked once; a screenshot is written.
    @Test(.enabled(if: toolExists("chromium"), "chromium is not installed (scripts/setup.sh installs it)"))
    func chromiumRendersGraphAndCharts() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = try HTMLReportTests.compileAuto(in: folder)
        let html = try String(contentsOf: out.appendingPathComponent("report.html"), encoding: .utf8)
        // The page has no script; a copy gets one that writes what Chromium laid out into the DOM it dumps.
        let probe = """
            <script>
            const box = (e) => { const r = e.getBoundingClientRect(); return Math.round(r.width) + "x" + Math.round(r.height); };
            const out = document.createElement("pre"); out.id = "probe";
            const lines = [];
            for (const id of ["graph", "chart-bytes", "chart-error", "chart-time", "allocation-curve"]) {
              const e = document.getElementById(id); lines.push(id + " " + (e ? box(e) : "absent"));
            }
            const nodes = [...document.querySelectorAll("#graph g.node")];
            lines.push("nodes " + nodes.length + " laid-out " + nodes.filter(n => n.getBBox().width > 0).length);
            lines.push("layers " + nodes.filter(n => n.dataset.pattern).map(n => n.dataset.layer + "=" + n.dataset.pattern).join(","));
            lines.push("bars " + [...document.querySelectorAll("rect.bar")].filter(b => b.getBBox().width > 0).length);
            lines.push("chosen " + document.querySelectorAll("#allocation-curve circle.chosen").length);
            out.textContent = lines.join("\\n"); document.body.appendChild(out);
            </script>
            """
        let probed = folder.appendingPathComponent("probed.html")
        try Data(html.replacingOccurrences(of: "</body>", with: probe + "</body>").utf8).write(to: probed)
        let rendered = try chromiumDOM(of: probed)
        #expect(rendered.status == 0, "chromium: \(rendered.output)")
        guard let start = rendered.output.range(of: "<pre id=\"probe\">"),
              let end = rendered.output.range(of: "</pre>", range: start.upperBound..<rendered.output.endIndex) else {
            Issue.record("the probe did not run:\n\(rendered.output.suffix(2000))")
            return
        }
        let lines = rendered.output[start.upperBound..<end.lowerBound].split(separator: "\n").map(String.init)
        var facts: [String: String] = [:]
        for line in lines {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            if parts.count == 2 { facts[parts[0]] = parts[1] }
        }
        for id in ["graph", "chart-bytes", "chart-error", "chart-time", "allocation-curve"] {
            let size = try #require(facts[id], "no line for \(id)")
            let sides = size.split(separator: "x").compactMap { Int($0) }
            #expect(sides.count == 2 && sides.allSatisfy { $0 > 50 }, "\(id) is not laid out: \(size)")
        }
        // input, cast, 3 matmuls with their epilogues fused, relus/softmax as the graph has them, output: every node drawn.
        let nodeLine = try #require(facts["nodes"]).split(separator: " ")
        #expect(nodeLine.count == 3 && nodeLine[0] == nodeLine[2] && (Int(nodeLine[0]) ?? 0) >= 5, "nodes: \(nodeLine)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as? [String: Any]
        let schedule = try #require((json?["schedule"] as? [String: Any])?["layers"] as? [[String: Any]])
        let drawn = try #require(facts["layers"]).split(separator: ",").map(String.init)
        for row in schedule {
            let layer = try #require(row["layer"] as? String), pattern = try #require(row["pattern"] as? String)
            #expect(drawn.contains("\(layer)=\(pattern)"), "layer \(layer) is not drawn as \(pattern): \(drawn)")
        }
        let layers = try #require(json?["layers"] as? [[String: Any]])
        // bytes: two bars per prunable layer; error: one per sparse layer; time: one per scheduled layer.
        let sparse = layers.filter { $0["relativeOutputError"] is Double }.count
        #expect(Int(facts["bars"] ?? "") == 2 * layers.count + sparse + schedule.count, "bars: \(facts["bars"] ?? "none")")
        #expect(facts["chosen"] == "1")

        let screenshot = folder.appendingPathComponent("report.png")
        let shot = try runTool("chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                            "--window-size=1280,1600", "--screenshot=\(screenshot.path)",
                                            out.appendingPathComponent("report.html").absoluteString])
        #expect(shot.status == 0, "chromium: \(shot.output)")
        let png = try Data(contentsOf: screenshot)
        // PNG signature, then IHDR with the window's width and height.
        #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        let width = png.count >= 24 ? png[16..<20].reduce(0) { $0 << 8 | Int($1) } : 0
        #expect(width == 1280)
        #expect(png.count > 20_000, "the screenshot is nearly empty (\(png.count) bytes)")
    }
}
