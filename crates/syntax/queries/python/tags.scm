; Definitions and imports for nib's repository context.
;
; Capture conventions (shared by every language):
;   @definition.<kind>  the whole definition; kind is one of function, method, class, struct,
;                       enum, union, trait, impl, const, static, type, module, macro
;   @name               the defined name
;   @body               the body: the signature is the text from the definition's start to here
;   @doc                a docstring inside the definition (comments just above it are added too)
;   @import / @import.from / @import.glob / @import.use / @import.mod  one import statement
;   @import.path        a module path (`a.b`, `a::b`), @import.module the module of a from-import
;   @import.name        a name imported from that module, @import.alias the local name
;   @import.tree        a whole use-tree (`a::{b, c as d}`), expanded by nib

(function_definition
  name: (identifier) @name
  body: (block . (expression_statement (string) @doc)?) @body) @definition.function

(class_definition
  name: (identifier) @name
  body: (block . (expression_statement (string) @doc)?) @body) @definition.class

(module
  (expression_statement
    (assignment left: (identifier) @name)) @definition.const)

(import_statement
  name: (dotted_name) @import.path) @import

(import_statement
  name: (aliased_import
    name: (dotted_name) @import.path
    alias: (identifier) @import.alias)) @import

(import_from_statement
  module_name: (_) @import.module
  name: (dotted_name) @import.name) @import.from

(import_from_statement
  module_name: (_) @import.module
  name: (aliased_import
    name: (dotted_name) @import.name
    alias: (identifier) @import.alias)) @import.from

(import_from_statement
  module_name: (_) @import.module
  (wildcard_import)) @import.glob
