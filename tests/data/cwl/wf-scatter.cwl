cwlVersion: v1.2
class: Workflow
doc: Scatter a tool over words, keep only the long ones (a conditional step), gather the lines
requirements:
  ScatterFeatureRequirement: {}
  InlineJavascriptRequirement: {}
  StepInputExpressionRequirement: {}
inputs:
  words: string[]
  min_length: {type: int, default: 4}
outputs:
  lines:
    type: File[]
    outputSource: echo/out
    pickValue: all_non_null
steps:
  echo:
    run:
      class: CommandLineTool
      inputs:
        word: {type: string, inputBinding: {position: 1}}
      outputs:
        out: {type: stdout}
      baseCommand: echo
      stdout: $(inputs.word).txt
    scatter: word
    in:
      word: words
      min_length: min_length
    when: $(inputs.word.length >= inputs.min_length)
    out: [out]
