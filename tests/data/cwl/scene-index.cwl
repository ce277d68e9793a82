cwlVersion: v1.2
class: Workflow
label: scene-index
doc: >
  Count the lines of each scene and of its .aux sidecar (secondaryFiles), scattered over the
  scenes; report only the scenes with at least min_lines lines (a conditional step); sum the
  counts in JavaScript (an ExpressionTool).
requirements:
  ScatterFeatureRequirement: {}
  InlineJavascriptRequirement: {}
  MultipleInputFeatureRequirement: {}
inputs:
  scenes: {type: "File[]", secondaryFiles: [.aux]}
  min_lines: {type: int, default: 3}
outputs:
  reports: {type: "File[]", outputSource: report/out, pickValue: all_non_null}
  total: {type: int, outputSource: sum/total}
steps:
  measure:
    run:
      class: CommandLineTool
      inputs:
        scene: {type: File, secondaryFiles: [.aux], inputBinding: {position: 1}}
      baseCommand: [sh, -c, 'cat "$0" "$0.aux" | wc -l']
      stdout: lines.txt
      outputs:
        lines:
          type: int
          outputBinding: {glob: lines.txt, loadContents: true, outputEval: '$(parseInt(self[0].contents))'}
    scatter: scene
    in: {scene: scenes}
    out: [lines]
  report:
    run:
      class: CommandLineTool
      inputs:
        scene: File
        lines: {type: int, inputBinding: {position: 1}}
      arguments: [{valueFrom: $(inputs.scene.nameroot), position: 0}]
      baseCommand: [sh, -c, 'echo "$0: $1 lines"']
      stdout: $(inputs.scene.nameroot).report
      outputs:
        out: {type: stdout}
    scatter: [scene, lines]
    scatterMethod: dotproduct
    in: {scene: scenes, lines: measure/lines, min_lines: min_lines}
    when: $(inputs.lines >= inputs.min_lines)
    out: [out]
  sum:
    run:
      class: ExpressionTool
      inputs: {counts: "int[]"}
      outputs: {total: int}
      expression: '${ return {"total": inputs.counts.reduce(function (a, b) { return a + b; }, 0)}; }'
    in: {counts: measure/lines}
    out: [total]
