-- :NibExplain, :NibFix, :NibTests, :NibRefactor, :NibGenerate: ask nib for its code actions at
-- the cursor or selection, resolve the one the command names (the model runs then) and apply
-- its edit; an explanation is shown in a floating window.
local util = require("nib.util")

local M = {}

--- How each command recognises nib's action: the action's `data.action` id, or the last part
--- of its kind (`refactor.nib.generate` -> `generate`).
M.names = {
  explain = { "explain", "explain_code" },
  fix = { "fix", "fix_code" },
  tests = { "tests", "generate_tests", "write_tests" },
  refactor = { "refactor", "refactor_code" },
  generate = { "generate", "generate_from_comment" },
}

local function last_kind_part(kind)
  return type(kind) == "string" and kind:match("%.nib%.([%w_]+)$") or nil
end

---@param name string
---@param id string?
local function names_match(name, id)
  return id ~= nil and (id == name or vim.tbl_contains(M.names[name] or {}, id))
end

---@param action lsp.CodeAction|lsp.Command
---@param name string
function M.matches(action, name)
  if type(action.command) == "string" then
    -- A bare Command: nib offers none today.
    return false
  end
  local data_id = type(action.data) == "table" and action.data.action or nil
  return names_match(name, data_id) or names_match(name, last_kind_part(action.kind))
end

--- Whether the server says it can offer `name` (false when it lists its kinds and none fits).
---@param client vim.lsp.Client
---@param name string
function M.offered(client, name)
  local provider = client.server_capabilities.codeActionProvider
  if not provider then
    return false
  end
  local kinds = type(provider) == "table" and provider.codeActionKinds or nil
  if not kinds then
    return true
  end
  for _, kind in ipairs(kinds) do
    if names_match(name, last_kind_part(kind)) then
      return true
    end
  end
  return false
end

--- The LSP range of the command's target: the selection for a ranged command (`:'<,'>Nib...`),
--- else the cursor.
---@param bufnr integer
---@param encoding string
---@param cmd_opts table?  the user command's arguments (range, line1, line2)
---@return lsp.Range
function M.target_range(bufnr, encoding, cmd_opts)
  if cmd_opts and cmd_opts.range and cmd_opts.range > 0 then
    local s = vim.api.nvim_buf_get_mark(bufnr, "<")
    local e = vim.api.nvim_buf_get_mark(bufnr, ">")
    local srow, scol, erow, ecol
    if s[1] == cmd_opts.line1 and e[1] == cmd_opts.line2 then
      -- The visual selection: '> is on the last selected character (or past the line for V).
      srow, scol, erow = s[1] - 1, s[2], e[1] - 1
      local eline = vim.api.nvim_buf_get_lines(bufnr, erow, erow + 1, false)[1] or ""
      ecol = math.min(e[2] + 1, #eline)
      if vim.fn.visualmode() == "V" then
        scol, ecol = 0, #eline
      end
    else
      srow, scol, erow = cmd_opts.line1 - 1, 0, cmd_opts.line2 - 1
      ecol = #(vim.api.nvim_buf_get_lines(bufnr, erow, erow + 1, false)[1] or "")
    end
    return {
      start = util.position(bufnr, srow, scol, encoding),
      ["end"] = util.position(bufnr, erow, ecol, encoding),
    }
  end
  local c = vim.api.nvim_win_get_cursor(0)
  local p = util.position(bufnr, c[1] - 1, c[2], encoding)
  return { start = p, ["end"] = p }
end

--- LSP diagnostics of `bufnr` on the lines of `range` (nib's own and other servers').
local function diagnostics_in(bufnr, range)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    local lsp_d = vim.tbl_get(d, "user_data", "lsp")
    if lsp_d and d.lnum <= range["end"].line and (d.end_lnum or d.lnum) >= range.start.line then
      out[#out + 1] = lsp_d
    end
  end
  return out
end

local function show_explanation(text, title)
  local lines = vim.split(text, "\n", { plain = true })
  table.insert(lines, 1, "# " .. title)
  vim.lsp.util.open_floating_preview(lines, "markdown", { border = "rounded", focus_id = "nib" })
end

---@param client vim.lsp.Client
---@param bufnr integer
---@param action lsp.CodeAction
---@param done fun(ok: boolean, msg: string)
local function apply(client, bufnr, action, done)
  local result = vim.tbl_get(action, "data", "result") or {}
  if action.edit then
    vim.lsp.util.apply_workspace_edit(action.edit, client.offset_encoding or "utf-16")
  end
  if action.command then
    util.exec_cmd(client, action.command, bufnr)
  end
  local explanation = type(result.explanation) == "string" and result.explanation or ""
  if not action.edit then
    if explanation ~= "" then
      show_explanation(explanation, action.title)
      done(true, action.title)
    else
      done(false, action.title)
    end
    return
  end
  done(true, explanation ~= "" and explanation or action.title)
end

--- Run nib's action `name` at the cursor or selection.
---@param name string  explain | fix | tests | refactor | generate
---@param cmd_opts table?  the user command's arguments
---@param done fun(ok: boolean, msg: string)?  called once the action is applied or failed
function M.run(name, cmd_opts, done)
  done = done
    or function(ok, msg)
      util.notify_user(msg, ok and vim.log.levels.INFO or vim.log.levels.WARN)
    end
  local bufnr = vim.api.nvim_get_current_buf()
  local client = util.client(bufnr)
  if not client then
    done(false, "no nib server is attached to this buffer")
    return
  end
  if not M.offered(client, name) then
    done(false, ("%s is not available in this nib version"):format(name))
    return
  end
  local encoding = client.offset_encoding or "utf-16"
  local range = M.target_range(bufnr, encoding, cmd_opts)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    range = range,
    context = { diagnostics = diagnostics_in(bufnr, range), triggerKind = 1 },
  }
  util.request(client, "textDocument/codeAction", params, function(err, actions)
    if err then
      done(false, "code actions failed: " .. (err.message or vim.inspect(err)))
      return
    end
    local found = vim.tbl_filter(function(a)
      return M.matches(a, name)
    end, actions or {})
    if #found == 0 then
      local hint = name == "generate" and " (put the cursor on a comment that describes code)" or ""
      done(false, ("no %s action here%s"):format(name, hint))
      return
    end
    local function resolve(action)
      local can_resolve = vim.tbl_get(client.server_capabilities, "codeActionProvider", "resolveProvider")
      if action.edit or not can_resolve then
        apply(client, bufnr, action, done)
        return
      end
      util.notify_user(action.title .. " …")
      util.request(client, "codeAction/resolve", action, function(rerr, resolved)
        if rerr then
          done(false, ("%s failed: %s"):format(action.title, rerr.message or vim.inspect(rerr)))
          return
        end
        apply(client, bufnr, resolved or action, done)
      end, bufnr)
    end
    if #found == 1 then
      resolve(found[1])
    else
      vim.ui.select(found, {
        prompt = "nib",
        format_item = function(a)
          return a.title
        end,
      }, function(choice)
        if choice then
          resolve(choice)
        end
      end)
    end
  end, bufnr)
end

return M
