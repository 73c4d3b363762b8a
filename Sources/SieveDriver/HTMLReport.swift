// report.html: the compile report as one self-contained page (inline CSS and SVG, no script, nothing fetched):
// the graph with each layer coloured by its pattern, per-layer bar charts, and sparsity-allocation's trade-off.

import Foundation
import SieveIR
import SievePasses

/// The compile report as a page to look at, drawn by Sieve itself (Graphviz may be absent at compile time).
struct HTMLReport {
    /// The model file's name.
    var model: String
    /// Lines of the summary, as label and value.
    var facts: [(label: String, value: String)]
    /// The graph as it was lowered (scheduled).
    var graph: Graph
    var sparsity: SparsityReport?
    var schedule: ScheduleReport

    /// What the page says about one kernel-bearing or prunable op.
    struct LayerFacts {
        var name: String
        var pattern: String
        var density: Double?
        var error: Double?
        var estimatedMicroseconds: Double?
        var measuredMicroseconds: Double?
        var schedule: String?
    }

    /// The page.
    func render() -> String {
        let layers = layerFacts()
        var body: [String] = []
        body.append("<h1>Sieve compile report: \(escape(model))</h1>")
        body.append("<ul class=\"facts\">" + facts.map { "<li><b>\(escape($0.label)):</b> \(escape($0.value))</li>" }.joined() + "</ul>")
        body.append("<h2>Graph</h2>")
        body.append("<p class=\"note\">Each layer that runs a matrix-product kernel is coloured by its weight pattern and "
                    + "annotated with its density, its output error on calibration data and the cost model's time estimate; "
                    + "weights are folded into the op that reads them.</p>")
        body.append(legend(patterns: Set(layers.values.map(\.pattern))))
        body.append("<div class=\"scroll\">" + graphSVG(layers) + "</div>")
        body.append("<h2>Layers</h2>")
        body.append(charts())
        body.append(layerTable(layers))
        if let sparsity, !sparsity.curve.isEmpty {
            body.append("<h2>Sparsity allocation</h2>")
            body.append("<p class=\"note\">The greedy allocation of <code>--sparsity auto</code>: from every layer dense, each step "
                        + "prunes the layer that adds the least estimated error per weight removed (per nanosecond saved, by the "
                        + "cost model, with <code>--target-speedup</code>). The chosen allocation is marked; the estimate adds the "
                        + "layers' sensitivities (report.md gives the errors measured).</p>")
            body.append(curveSVG(sparsity.curve))
        }
        if let notes = sparsity?.notes, !notes.isEmpty {
            body.append("<h2>Notes</h2><ul>" + notes.map { "<li>\(escape($0))</li>" }.joined() + "</ul>")
        }
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>Sieve report: \(escape(model))</title>
            <style>
            body { font-family: system-ui, sans-serif; margin: 24px; color: #111827; max-width: 1200px; }
            h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #e5e7eb; }
            .note { color: #4b5563; font-size: 13px; }
            .scroll { overflow: auto; max-height: 900px; border: 1px solid #e5e7eb; }
            svg text { font-family: ui-monospace, monospace; font-size: 11px; fill: #111827; }
            svg .title { font-family: system-ui, sans-serif; font-size: 13px; font-weight: bold; }
            table { border-collapse: collapse; font-size: 12px; margin-top: 16px; }
            th, td { border: 1px solid #e5e7eb; padding: 3px 6px; text-align: left; }
            th { background: #f9fafb; }
            .legend span { display: inline-block; margin-right: 14px; font-size: 13px; }
            .legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; border: 1px solid #6b7280; vertical-align: middle; }
            .charts { display: flex; flex-wrap: wrap; gap: 24px; }
            </style>
            </head>
            <body>
            \(body.joined(separator: "\n"))
            </body>
            </html>

            """
    }

    // MARK: Layers

    /// Facts by op index, for every op with a schedule or a prunable weight.
    func layerFacts() -> [Int: LayerFacts] {
        let rows = Dictionary(schedule.layers.map { ($0.layer, $0) }, uniquingKeysWith: { first, _ in first })
        let sparse = Dictionary((sparsity?.layers ?? []).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var constantOf: [Int: String] = [:]
        for op in graph.operations {
            if case let .constant(id) = op.kind, let result = op.results.first, let constant = graph.constants[id] {
                constantOf[result.index] = constant.name
            }
        }
        var facts: [Int: LayerFacts] = [:]
        for (index, op) in graph.operations.enumerated() {
            guard let result = op.results.first else { continue }
            let name = graph.valueName(result)
            let row = rows[name]
            let weight = op.operands.lazy.compactMap { constantOf[$0.index] }.first { sparse[$0] != nil }
            let layer = weight.flatMap { sparse[$0] }
            guard row != nil || layer != nil else { continue }
            facts[index] = LayerFacts(name: name, pattern: layer?.pattern ?? row?.pattern ?? "dense", density: layer?.density,
                                      error: layer?.relativeOutputError, estimatedMicroseconds: row?.estimatedMicroseconds,
                                      measuredMicroseconds: row?.measuredMicroseconds, schedule: row?.schedule)
        }
        return facts
    }

    static let patternColours: [(String, String)] = [
        ("dense", "#93c5fd"), ("2:4", "#86efac"), ("1:4", "#fdba74"), ("4:8", "#c4b5fd"), ("2:8", "#fca5a5"), ("1:2", "#5eead4"),
    ]

    func colour(_ pattern: String) -> String {
        HTMLReport.patternColours.first { $0.0 == pattern }?.1 ?? "#fde68a"
    }

    func legend(patterns: Set<String>) -> String {
        var items = HTMLReport.patternColours.map(\.0).filter(patterns.contains)
        items += patterns.subtracting(items).sorted()
        let spans = items.map { "<span><i style=\"background:\(colour($0))\"></i>\(escape($0)) layer</span>" }
        return "<p class=\"legend\">" + spans.joined()
            + "<span><i style=\"background:#f3f4f6\"></i>other op</span><span><i style=\"background:#ffffff\"></i>input / output</span></p>"
    }

    func layerTable(_ layers: [Int: LayerFacts]) -> String {
        var lines = ["<table id=\"layers\"><tr><th>layer</th><th>op</th><th>pattern</th><th>density</th><th>layer error</th>"
                     + "<th>estimated µs</th><th>measured µs</th><th>schedule</th></tr>"]
        for index in layers.keys.sorted() {
            guard let facts = layers[index] else { continue }
            lines.append("<tr><td>\(escape(facts.name))</td><td>\(escape(graph.operations[index].kind.mnemonic))</td>"
                         + "<td>\(escape(facts.pattern))</td><td>\(number(facts.density))</td><td>\(number(facts.error))</td>"
                         + "<td>\(number(facts.estimatedMicroseconds))</td><td>\(number(facts.measuredMicroseconds))</td>"
                         + "<td>\(escape(facts.schedule ?? "–"))</td></tr>")
        }
        return lines.joined(separator: "\n") + "</table>"
    }

    // MARK: The graph

    /// The graph drawn top to bottom: a row per depth (longest path from an input), weights left out.
    func graphSVG(_ layers: [Int: LayerFacts]) -> String {
        struct Node {
            var id: String
            var lines: [String]
            var fill: String
            var dashed: Bool
            var layer: LayerFacts?
            var depth: Int
        }
        var nodes: [Node] = []
        var nodeOfValue: [Int: Int] = [:]
        var isWeight = Set<Int>()
        for (position, input) in graph.inputs.enumerated() {
            nodeOfValue[input.index] = nodes.count
            nodes.append(Node(id: "in\(position)", lines: ["input " + graph.valueName(input), shapeText(input)], fill: "#ffffff",
                              dashed: true, depth: 0))
        }
        var edges: [(from: Int, to: Int)] = []
        for (index, op) in graph.operations.enumerated() {
            if case .constant = op.kind {
                for result in op.results { isWeight.insert(result.index) }
                continue
            }
            let sources = op.operands.filter { !isWeight.contains($0.index) }.compactMap { nodeOfValue[$0.index] }
            let depth = (sources.map { nodes[$0].depth }.max() ?? -1) + 1
            let node = nodes.count
            for source in Set(sources).sorted() { edges.append((source, node)) }
            for result in op.results { nodeOfValue[result.index] = node }
            var lines = [op.kind.mnemonic + " " + (op.results.first.map { graph.valueName($0) } ?? ""),
                         op.results.first.map(shapeText) ?? ""]
            let facts = layers[index]
            if let facts {
                var parts = [facts.pattern]
                if let density = facts.density { parts.append("density \(number(density))") }
                if let error = facts.error { parts.append("err \(number(error))") }
                lines.append(parts.joined(separator: " · "))
                if let time = facts.measuredMicroseconds ?? facts.estimatedMicroseconds {
                    lines.append("\(number(time)) µs \(facts.measuredMicroseconds == nil ? "estimated" : "measured")")
                }
            }
            nodes.append(Node(id: "op\(index)", lines: lines, fill: facts.map { colour($0.pattern) } ?? "#f3f4f6", dashed: false,
                              layer: facts, depth: depth))
        }
        let outputDepth = (nodes.map(\.depth).max() ?? 0) + 1
        for (position, output) in graph.outputs.enumerated() {
            let node = nodes.count
            nodes.append(Node(id: "out\(position)", lines: ["output " + graph.valueName(output), shapeText(output)], fill: "#ffffff",
                              dashed: true, depth: outputDepth))
            if let source = nodeOfValue[output.index] { edges.append((source, node)) }
        }

        let width = 210, height = 62, gapX = 24, gapY = 38, margin = 16
        var rows: [[Int]] = Array(repeating: [], count: outputDepth + 1)
        for (index, node) in nodes.enumerated() { rows[node.depth].append(index) }
        rows = rows.filter { !$0.isEmpty }
        let widest = rows.map(\.count).max() ?? 1
        let canvasWidth = 2 * margin + widest * width + (widest - 1) * gapX
        let canvasHeight = 2 * margin + rows.count * height + (rows.count - 1) * gapY
        var position = [(x: Int, y: Int)](repeating: (0, 0), count: nodes.count)
        for (rowIndex, row) in rows.enumerated() {
            let rowWidth = row.count * width + (row.count - 1) * gapX
            var x = (canvasWidth - rowWidth) / 2
            for node in row {
                position[node] = (x, margin + rowIndex * (height + gapY))
                x += width + gapX
            }
        }
        var svg = ["<svg id=\"graph\" width=\"\(canvasWidth)\" height=\"\(canvasHeight)\" viewBox=\"0 0 \(canvasWidth) \(canvasHeight)\" role=\"img\">",
                   "<defs><marker id=\"arrow\" viewBox=\"0 0 8 8\" refX=\"8\" refY=\"4\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">"
                   + "<path d=\"M0,0 L8,4 L0,8 z\" fill=\"#6b7280\"/></marker></defs>"]
        for edge in edges {
            let (x1, y1) = (position[edge.from].x + width / 2, position[edge.from].y + height)
            let (x2, y2) = (position[edge.to].x + width / 2, position[edge.to].y)
            let middle = (y1 + y2) / 2
            svg.append("<path class=\"edge\" d=\"M\(x1),\(y1) C\(x1),\(middle) \(x2),\(middle) \(x2),\(y2)\" fill=\"none\" stroke=\"#9ca3af\" marker-end=\"url(#arrow)\"/>")
        }
        for (index, node) in nodes.enumerated() {
            let (x, y) = position[index]
            var group = "<g class=\"node\" id=\"node-\(node.id)\""
            if let layer = node.layer { group += " data-layer=\"\(escape(layer.name))\" data-pattern=\"\(escape(layer.pattern))\"" }
            svg.append(group + ">")
            svg.append("<title>\(escape(node.lines.joined(separator: "\n")))</title>")
            svg.append("<rect x=\"\(x)\" y=\"\(y)\" width=\"\(width)\" height=\"\(height)\" rx=\"5\" fill=\"\(node.fill)\" stroke=\"#4b5563\""
                       + (node.dashed ? " stroke-dasharray=\"4 3\"" : "") + "/>")
            for (line, text) in node.lines.prefix(4).enumerated() {
                svg.append("<text x=\"\(x + 6)\" y=\"\(y + 14 + line * 13)\"\(line == 0 ? " font-weight=\"bold\"" : "")>\(escape(clipped(text, to: 30)))</text>")
            }
            svg.append("</g>")
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n")
    }

    func shapeText(_ id: ValueID) -> String {
        guard let type = graph.type(of: id) else { return "" }
        let shape = type.shape.isEmpty ? "scalar" : type.shape.map(String.init).joined(separator: "x")
        return "\(shape) \(type.elementType)"
    }

    // MARK: Charts

    func charts() -> String {
        var parts: [String] = []
        if let sparsity, !sparsity.layers.isEmpty {
            parts.append(barChart(id: "chart-bytes", title: "Weight bytes before and after", rows: sparsity.layers.map {
                ($0.name, [Double($0.bytesBefore), Double($0.bytesAfter)])
            }, series: [("before", "#9ca3af"), ("after", "#22c55e")], format: byteCount))
            let measured = sparsity.layers.filter { $0.relativeOutputError != nil }
            if !measured.isEmpty {
                parts.append(barChart(id: "chart-error", title: "Layer output error (relative, calibration data)",
                                      rows: measured.map { ($0.name, [$0.relativeOutputError]) }, series: [("error", "#ef4444")],
                                      format: { self.number($0) }))
            }
        }
        let timed = schedule.layers.filter { $0.estimatedMicroseconds != nil }
        if !timed.isEmpty {
            let anyMeasured = timed.contains { $0.measuredMicroseconds != nil }
            parts.append(barChart(id: "chart-time", title: "Time per layer, µs", rows: timed.map {
                ($0.layer, anyMeasured ? [$0.estimatedMicroseconds, $0.measuredMicroseconds] : [$0.estimatedMicroseconds])
            }, series: anyMeasured ? [("estimated", "#3b82f6"), ("measured", "#f59e0b")] : [("estimated", "#3b82f6")],
                format: { self.number($0) }))
        }
        if sparsity == nil { parts.append("<p class=\"note\">No sparsity: every weight is dense (pass --sparsity 2:4 or auto).</p>") }
        return "<div class=\"charts\">" + parts.joined(separator: "\n") + "</div>"
    }

    /// Horizontal bars, one group per row and one bar per series, scaled to the largest value.
    func barChart(id: String, title: String, rows: [(label: String, values: [Double?])], series: [(name: String, colour: String)],
                  format: (Double) -> String) -> String {
        let labelWidth = 170, plotWidth = 300, valueWidth = 80, bar = 11, top = 40
        let group = series.count * bar + 8
        let largest = rows.flatMap { $0.values.compactMap { $0 } }.filter(\.isFinite).max() ?? 0
        let width = labelWidth + plotWidth + valueWidth, height = top + rows.count * group + 6
        var svg = ["<svg class=\"chart\" id=\"\(id)\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\">",
                   "<text class=\"title\" x=\"0\" y=\"14\">\(escape(title))</text>"]
        var legendX = 0
        for entry in series {
            svg.append("<rect x=\"\(legendX)\" y=\"22\" width=\"10\" height=\"10\" fill=\"\(entry.colour)\"/><text x=\"\(legendX + 14)\" y=\"31\">\(escape(entry.name))</text>")
            legendX += 24 + 7 * entry.name.count
        }
        for (rowIndex, row) in rows.enumerated() {
            let y = top + rowIndex * group
            svg.append("<text x=\"\(labelWidth - 6)\" y=\"\(y + group / 2 + 3)\" text-anchor=\"end\">\(escape(clipped(row.label, to: 24)))</text>")
            for (seriesIndex, value) in row.values.enumerated() where seriesIndex < series.count {
                let barY = y + 4 + seriesIndex * bar
                guard let value, value.isFinite else {
                    svg.append("<text x=\"\(labelWidth + 2)\" y=\"\(barY + bar - 2)\">–</text>")
                    continue
                }
                let length = largest > 0 ? max(1, Int((value / largest * Double(plotWidth)).rounded())) : 1
                svg.append("<rect class=\"bar\" x=\"\(labelWidth)\" y=\"\(barY)\" width=\"\(length)\" height=\"\(bar - 2)\" fill=\"\(series[seriesIndex].colour)\">"
                           + "<title>\(escape(row.label)) \(escape(series[seriesIndex].name)): \(escape(format(value)))</title></rect>")
                svg.append("<text x=\"\(labelWidth + length + 4)\" y=\"\(barY + bar - 2)\">\(escape(format(value)))</text>")
            }
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n")
    }

    /// The estimated error against the share of prunable weights kept (against the estimated speed-up with
    /// `--target-speedup`), one point per allocation step; the measured error at the points where it was measured
    /// when there is no estimate (layers ranked by outliers).
    func curveSVG(_ points: [AllocationPoint]) -> String {
        let width = 560, height = 320, left = 64, right = 20, top = 20, bottom = 48
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        // Errors as estimated, or as measured where nothing was estimated (only the points measured are drawn).
        let estimated = points.contains { $0.estimatedError != nil }
        let errorName = estimated ? "estimated error" : "measured error"
        let points = points.filter { (estimated ? $0.estimatedError : $0.measuredError) != nil }
        func yValue(_ point: AllocationPoint) -> Double { (estimated ? point.estimatedError : point.measuredError) ?? 0 }
        let chosen = points.firstIndex(where: \.chosen)
        // Left to right the allocation gets sparser: density falls, or the speed-up rises.
        let bySpeed = points.allSatisfy { $0.estimatedSpeedup != nil }
        func xValue(_ point: AllocationPoint) -> Double { bySpeed ? -(point.estimatedSpeedup ?? 1) : point.density }
        func xLabel(_ point: AllocationPoint) -> String {
            bySpeed ? "speed-up \(number(point.estimatedSpeedup))x" : "kept \(number(point.density))"
        }
        let minX = points.map(xValue).min() ?? 0, maxX = points.map(xValue).max() ?? 1
        let maxY = max(points.map(yValue).filter(\.isFinite).max() ?? 0, 1e-9)
        func px(_ x: Double) -> Int { left + Int(((maxX - x) / max(maxX - minX, 1e-9) * Double(plotWidth)).rounded()) }
        func py(_ y: Double) -> Int { top + plotHeight - Int((min(y, maxY) / maxY * Double(plotHeight)).rounded()) }
        var svg = ["<svg id=\"allocation-curve\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\">",
                   "<line x1=\"\(left)\" y1=\"\(top + plotHeight)\" x2=\"\(left + plotWidth)\" y2=\"\(top + plotHeight)\" stroke=\"#374151\"/>",
                   "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + plotHeight)\" stroke=\"#374151\"/>",
                   "<text x=\"\(left)\" y=\"\(height - 24)\">\(number(abs(maxX)))</text>",
                   "<text x=\"\(left + plotWidth)\" y=\"\(height - 24)\" text-anchor=\"end\">\(number(abs(minX)))</text>",
                   "<text x=\"\(left + plotWidth / 2)\" y=\"\(height - 6)\" text-anchor=\"middle\">\(bySpeed ? "estimated speed-up over dense" : "share of prunable weights kept")</text>",
                   "<text x=\"\(left - 6)\" y=\"\(top + 10)\" text-anchor=\"end\">\(number(maxY))</text>",
                   "<text x=\"\(left - 6)\" y=\"\(top + plotHeight)\" text-anchor=\"end\">0</text>",
                   "<text x=\"14\" y=\"\(top + plotHeight / 2)\" transform=\"rotate(-90 14 \(top + plotHeight / 2))\" text-anchor=\"middle\">\(errorName)</text>"]
        let path = points.map { "\(px(xValue($0))),\(py(yValue($0)))" }.joined(separator: " ")
        svg.append("<polyline points=\"\(path)\" fill=\"none\" stroke=\"#3b82f6\" stroke-width=\"2\"/>")
        for (index, point) in points.enumerated() {
            let isChosen = index == chosen
            svg.append("<circle class=\"point\(isChosen ? " chosen" : "")\" cx=\"\(px(xValue(point)))\" cy=\"\(py(yValue(point)))\" "
                       + "r=\"\(isChosen ? 6 : 3)\" fill=\"\(isChosen ? "#dc2626" : "#3b82f6")\"><title>\(xLabel(point)), "
                       + "\(errorName) \(number(yValue(point)))\(isChosen ? " (chosen)" : "")</title></circle>")
            if isChosen {
                // Beside the point, on the side with room.
                let x = px(xValue(point)), onLeft = x > left + plotWidth / 2
                svg.append("<text x=\"\(onLeft ? x - 10 : x + 10)\" y=\"\(max(top + 10, py(yValue(point)) - 8))\"\(onLeft ? " text-anchor=\"end\"" : "")>"
                           + "chosen: \(xLabel(point)), error \(number(yValue(point)))</text>")
            }
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n")
    }

    // MARK: Text

    func number(_ value: Double?) -> String {
        guard let value else { return "–" }
        return value.isFinite ? String(format: "%.3g", value) : "\(value)"
    }

    func byteCount(_ value: Double) -> String {
        if value >= 1_048_576 { return String(format: "%.3g MiB", value / 1_048_576) }
        if value >= 1024 { return String(format: "%.3g KiB", value / 1024) }
        return "\(Int(value)) B"
    }

    func clipped(_ text: String, to length: Int) -> String {
        text.count <= length ? text : String(text.prefix(length - 1)) + "…"
    }

    func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
