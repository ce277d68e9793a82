cwlVersion: v1.2
class: CommandLineTool
baseCommand: echo
requirements:
  InlineJavascriptRequirement: {}
inputs:
  n: {type: int, inputBinding: {valueFrom: "$(self * 2)"}}
outputs:
  out: {type: stdout}
