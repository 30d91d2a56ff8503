@_exported import DataFormats
