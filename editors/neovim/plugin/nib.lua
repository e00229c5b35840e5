-- User commands of nib (the server itself starts from require("nib").setup()).
if vim.g.loaded_nib then
  return
end
vim.g.loaded_nib = true

local actions = {
  NibExplain = { "explain", "nib: explain the code at the cursor or selection" },
  NibFix = { "fix", "nib: fix the code at the cursor or selection" },
  NibTests = { "tests", "nib: write tests for the code at the cursor or selection" },
  NibRefactor = { "refactor", "nib: refactor the code at the cursor or selection" },
  NibGenerate = { "generate", "nib: write the code the comment at the cursor describes" },
}

for command, spec in pairs(actions) do
  vim.api.nvim_create_user_command(command, function(opts)
    require("nib.actions").run(spec[1], opts)
  end, { range = true, desc = spec[2] })
end

vim.api.nvim_create_user_command("NibStats", function()
  require("nib").stats()
end, { desc = "nib: print the server's counters (nib/stats)" })

vim.api.nvim_create_user_command("NibRestart", function()
  require("nib").restart()
end, { desc = "nib: restart the server" })
