package main

import "github.com/spf13/cobra"

func (a *app) serveCmd() *cobra.Command    { return &cobra.Command{Use: "serve", Hidden: true} }
func (a *app) validateCmd() *cobra.Command { return &cobra.Command{Use: "validate", Hidden: true} }
func (a *app) renderCmd() *cobra.Command   { return &cobra.Command{Use: "render", Hidden: true} }
