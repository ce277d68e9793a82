cwlVersion: v1.2
class: CommandLineTool
label: shout
doc: Upper-cases a text file and appends a tag (a JavaScript expression)
requirements:
  InlineJavascriptRequirement: {}
baseCommand: [sh, -c]
arguments:
  - valueFrom: $("tr a-z A-Z < '" + inputs.scene.path + "' && echo " + inputs.tag.toUpperCase())
inputs:
  scene: File
  tag:
    type: string
    doc: a word appended to the result
outputs:
  shouted:
    type: stdout
stdout: shouted.txt
