cwlVersion: v1.2
class: CommandLineTool
doc: Sort the lines of a file.
baseCommand: [sort]
requirements:
  ResourceRequirement:
    coresMin: 1
    ramMin: 64
inputs:
  reverse:
    type: boolean
    default: false
    inputBinding:
      position: 1
      prefix: -r
  key:
    type: int?
    inputBinding:
      position: 1
      prefix: -k
  infile:
    type: File
    inputBinding:
      position: 2
outputs:
  sorted:
    type: stdout
stdout: sorted.txt
