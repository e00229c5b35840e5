; Definitions and imports for nib's repository context.
; Capture conventions: see queries/python/tags.scm.

(function_item
  name: (identifier) @name
  body: (block) @body) @definition.function

(function_signature_item
  name: (identifier) @name) @definition.function

(struct_item
  name: (type_identifier) @name
  body: (_)? @body) @definition.struct

(enum_item
  name: (type_identifier) @name
  body: (enum_variant_list) @body) @definition.enum

(union_item
  name: (type_identifier) @name
  body: (field_declaration_list) @body) @definition.union

(trait_item
  name: (type_identifier) @name
  body: (declaration_list) @body) @definition.trait

(impl_item
  type: (_) @name
  body: (declaration_list) @body) @definition.impl

(const_item
  name: (identifier) @name) @definition.const

(static_item
  name: (identifier) @name) @definition.static

(type_item
  name: (type_identifier) @name) @definition.type

(mod_item
  name: (identifier) @name
  body: (declaration_list) @body) @definition.module

(macro_definition
  name: (identifier) @name) @definition.macro

(use_declaration
  argument: (_) @import.tree) @import.use

(mod_item
  name: (identifier) @import.path
  !body) @import.mod
