-- nib's suggestion in the completion menu (Neovim 0.10-0.11, which have no ghost text; on 0.12
-- it matters only to users who also complete from the menu).
--
-- nib answers textDocument/completion with its suggestion as one plain-text item whose textEdit
-- holds the whole suggestion. Neovim's built-in LSP completion (omnifunc, vim.lsp.completion)
-- puts only the first word of a plain-text textEdit into the menu entry, so accepting
-- `total / len(items)` used to insert `total`. On CompleteDone for an accepted nib item this
-- module replaces what was inserted with the item's whole textEdit (any number of lines) and
-- runs the item's command (`nib.accepted`) unless Neovim's own vim.lsp.completion handler runs
-- it. Menus that are not Neovim's (nvim-cmp, blink.cmp) apply the textEdit and the command
-- themselves and never reach this code.
--
-- Events sent to nib (see editors/neovim/README.md):
--   textDocument/didShowCompletion  once per menu that lists a nib item
--   workspace/executeCommand nib.accepted   on accept (the item's own command)
--   nib/didRejectCompletion  when a menu that listed a nib item closes without accepting it
local util = require("nib.util")

local M = {}

---@class nib.MenuSession
---@field client vim.lsp.Client
---@field items lsp.CompletionItem[]
---@field shown_at integer  hrtime when the menu first listed a nib item

---@type table<integer, nib.MenuSession?>
local sessions = {}

--- The nib completion item and its client behind a complete-item, if it is one.
---@param complete_item table?
---@return lsp.CompletionItem?, vim.lsp.Client?
function M.nib_item(complete_item)
  if type(complete_item) ~= "table" or type(complete_item.user_data) ~= "table" then
    return nil
  end
  local ud = vim.tbl_get(complete_item.user_data, "nvim", "lsp")
  if type(ud) ~= "table" or not ud.completion_item or not ud.client_id then
    return nil
  end
  local client = vim.lsp.get_client_by_id(ud.client_id)
  if not client or client.name ~= "nib" then
    return nil
  end
  return ud.completion_item, client
end

--- Replace the text between the start of `item`'s textEdit and the cursor (what the menu
--- inserted: a prefix of the suggestion) with the whole suggestion, and put the cursor after it.
--- Returns whether the buffer now holds the whole suggestion there.
---@param bufnr integer
---@param item lsp.CompletionItem
---@param encoding string
---@return boolean
function M.insert_whole(bufnr, item, encoding)
  local edit = item.textEdit
  if not edit then
    return false
  end
  local range = edit.range or edit.insert
  local new_text = edit.newText:gsub("\r\n", "\n")
  local win = vim.fn.bufwinid(bufnr)
  if win == -1 then
    return false
  end
  local cursor = vim.api.nvim_win_get_cursor(win)
  local crow, ccol = cursor[1] - 1, cursor[2]
  local srow = range.start.line
  if crow < srow then
    return false
  end
  local sline = vim.api.nvim_buf_get_lines(bufnr, srow, srow + 1, false)[1] or ""
  local scol = util.byte_col(sline, range.start.character, encoding)
  if crow == srow and ccol < scol then
    return false
  end
  local inserted = table.concat(vim.api.nvim_buf_get_text(bufnr, srow, scol, crow, ccol, {}), "\n")
  if inserted == new_text and (crow > srow or not new_text:find("\n", 1, true)) then
    return true
  end
  -- What the menu inserted is the suggestion's start, give or take whitespace: a word holding
  -- line breaks comes in re-indented by 'autoindent' (or, from some sources, with NULs for the
  -- breaks, read back as "\n").
  local function squeeze(text)
    return (text:gsub("%s+", ""))
  end
  if not vim.startswith(squeeze(new_text), squeeze(inserted)) then
    -- Something else sits there (another plugin's insertion): leave the buffer alone.
    return false
  end
  local lines = vim.split(new_text, "\n", { plain = true })
  vim.api.nvim_buf_set_text(bufnr, srow, scol, crow, ccol, lines)
  local last = #lines == 1 and scol + #lines[1] or #lines[#lines]
  vim.api.nvim_win_set_cursor(win, { srow + #lines, last })
  return true
end

--- Whether Neovim's vim.lsp.completion CompleteDone handler is active in `bufnr` (it runs an
--- accepted item's command itself).
local function builtin_handler(bufnr)
  local ok, autocmds = pcall(vim.api.nvim_get_autocmds, {
    group = ("nvim.lsp.completion_%d"):format(bufnr),
    event = "CompleteDone",
  })
  return ok and #autocmds > 0
end

local function text_document(bufnr)
  return { uri = vim.uri_from_bufnr(bufnr) }
end

local function cursor_position(bufnr, encoding)
  local win = vim.fn.bufwinid(bufnr)
  local c = vim.api.nvim_win_get_cursor(win ~= -1 and win or 0)
  return util.position(bufnr, c[1] - 1, c[2], encoding)
end

--- The identity nib gave a suggestion: its `nib.accepted` arguments (document version,
--- confidence, alternative index, mode).
local function suggestion_id(item)
  local args = vim.tbl_get(item, "command", "arguments")
  if type(args) == "table" and args[1] ~= nil then
    return args[1]
  end
  return item.data
end

---@param bufnr integer
local function on_changed(bufnr)
  if sessions[bufnr] then
    return
  end
  local info = vim.fn.complete_info({ "items" })
  local items, client = {}, nil
  for _, ci in ipairs(info.items or {}) do
    local item, c = M.nib_item(ci)
    if item then
      items[#items + 1] = item
      client = c
    end
  end
  if not client then
    return
  end
  sessions[bufnr] = { client = client, items = items, shown_at = vim.uv.hrtime() }
  util.notify(client, "textDocument/didShowCompletion", {
    textDocument = text_document(bufnr),
    item = items[1],
  })
end

---@param bufnr integer
---@param session nib.MenuSession
---@param reason string "dismissed" | "typedOver"
local function send_reject(bufnr, session, reason)
  local client = session.client
  if util.is_stopped(client) then
    return
  end
  util.notify(client, "nib/didRejectCompletion", {
    textDocument = text_document(bufnr),
    position = cursor_position(bufnr, client.offset_encoding or "utf-16"),
    reason = reason,
    items = vim.tbl_map(suggestion_id, session.items),
    shownMs = math.floor((vim.uv.hrtime() - session.shown_at) / 1e6),
  })
end

---@param bufnr integer
local function on_done(bufnr)
  local session = sessions[bufnr]
  sessions[bufnr] = nil
  local completed = vim.v.completed_item
  -- v:event.reason exists from Neovim 0.11 on: accept (<C-y>), cancel (<C-e>), discard.
  local reason = vim.v.event and vim.v.event.reason
  local item, client = M.nib_item(completed)
  local accepted = item ~= nil and (reason == "accept" or (reason == nil and next(completed) ~= nil))
  if accepted and client then
    local encoding = client.offset_encoding or "utf-16"
    local ok, err = pcall(M.insert_whole, bufnr, item, encoding)
    if not ok then
      util.notify_user("could not insert the whole suggestion: " .. tostring(err), vim.log.levels.WARN)
    end
    if item.command and not (reason == "accept" and builtin_handler(bufnr)) then
      util.exec_cmd(client, item.command, bufnr)
    end
    return
  end
  if not session then
    return
  end
  if reason == "cancel" then
    send_reject(bufnr, session, "dismissed")
    return
  end
  -- The menu closed by a key that was not <C-y>/<C-e>: once that key is handled, still being in
  -- insert mode means the user typed on (over the suggestion); otherwise the menu was left.
  vim.schedule(function()
    if not vim.api.nvim_buf_is_valid(bufnr) then
      return
    end
    local mode = vim.api.nvim_get_mode().mode
    local typed_over = mode:sub(1, 1) == "i" and item == nil
    send_reject(bufnr, session, typed_over and "typedOver" or "dismissed")
  end)
end

--- Watch the completion menu of `bufnr` (idempotent).
---@param bufnr integer
function M.attach(bufnr)
  if vim.b[bufnr].nib_menu then
    return
  end
  vim.b[bufnr].nib_menu = true
  local group = vim.api.nvim_create_augroup(("nib.complete_%d"):format(bufnr), { clear = true })
  vim.api.nvim_create_autocmd("CompleteChanged", {
    group = group,
    buffer = bufnr,
    callback = function()
      on_changed(bufnr)
    end,
  })
  vim.api.nvim_create_autocmd("CompleteDone", {
    group = group,
    buffer = bufnr,
    callback = function()
      on_done(bufnr)
    end,
  })
  vim.api.nvim_create_autocmd({ "BufUnload" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      sessions[bufnr] = nil
      vim.b[bufnr].nib_menu = nil
      pcall(vim.api.nvim_del_augroup_by_id, group)
    end,
  })
end

--- The suggestion as a complete-item: the menu shows and inserts its first line; CompleteDone
--- inserts the rest.
local function complete_item(item, client_id)
  local new_text = item.textEdit and item.textEdit.newText or item.insertText or item.label
  return {
    word = vim.split(new_text, "\n", { plain = true })[1],
    abbr = item.label,
    kind = "nib",
    menu = item.detail or "",
    info = type(item.documentation) == "table" and item.documentation.value or item.documentation or "",
    icase = 1,
    dup = 1,
    empty = 1,
    user_data = { nvim = { lsp = { completion_item = item, client_id = client_id } } },
  }
end

--- Open the completion menu with nib's suggestion alone (insert mode).
function M.trigger()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = util.client(bufnr)
  if not client then
    util.notify_user("no nib server is attached to this buffer", vim.log.levels.WARN)
    return
  end
  local win = vim.api.nvim_get_current_win()
  local encoding = client.offset_encoding or "utf-16"
  local params = vim.lsp.util.make_position_params(win, encoding)
  params.context = { triggerKind = 1 }
  local row = vim.api.nvim_win_get_cursor(win)[1]
  local tick = vim.b[bufnr].changedtick
  util.request(client, "textDocument/completion", params, function(err, result)
    if err or not result then
      return
    end
    if vim.b[bufnr].changedtick ~= tick or vim.api.nvim_win_get_cursor(win)[1] ~= row then
      return
    end
    if vim.api.nvim_get_mode().mode:sub(1, 1) ~= "i" then
      return
    end
    local items = result.items or result
    if #items == 0 then
      return
    end
    local line = vim.api.nvim_get_current_line()
    local edit = items[1].textEdit
    local range = edit and (edit.range or edit.insert)
    local col = range and util.byte_col(line, range.start.character, encoding)
      or vim.api.nvim_win_get_cursor(win)[2]
    local matches = vim.tbl_map(function(item)
      return complete_item(item, client.id)
    end, items)
    vim.fn.complete(col + 1, matches)
  end, bufnr)
end

return M
