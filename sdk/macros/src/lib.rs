//! Procedural macros for vow: `#[vow::task("name")]` registers a task, and
//! `vow::closure!` turns a closure with named captures into a registered task.

#![warn(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    bracketed, parse_macro_input, Expr, ExprClosure, GenericArgument, Ident, ItemImpl, LitStr, Pat,
    PathArguments, ReturnType, Token, Type,
};

/// Register an `impl Task for T` block under a stable tag name.
///
/// The name travels in every message, so it must stay the same across deploys
/// (renaming the struct is fine). Generic implementations cannot be registered.
#[proc_macro_attribute]
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    let name = match syn::parse::<LitStr>(attr) {
        Ok(name) if !name.value().is_empty() => name,
        _ => {
            return error(
                Span::call_site(),
                "#[vow::task] needs a stable tag name: #[vow::task(\"my-task\")]",
            )
        }
    };
    let imp = parse_macro_input!(item as ItemImpl);
    match register(&name, &imp) {
        Ok(tokens) => tokens.into(),
        Err(e) => {
            let err = e.to_compile_error();
            quote!(#imp #err).into()
        }
    }
}

fn register(name: &LitStr, imp: &ItemImpl) -> syn::Result<Tokens> {
    let is_task = imp
        .trait_
        .as_ref()
        .and_then(|(_, path, _)| path.segments.last())
        .is_some_and(|seg| seg.ident == "Task");
    if !is_task {
        return Err(syn::Error::new(
            imp.self_ty.span(),
            "#[vow::task] goes on an `impl Task for YourType` block",
        ));
    }
    if !imp.generics.params.is_empty() {
        return Err(syn::Error::new(
            imp.generics.span(),
            "vow tasks cannot be generic: a message names its task by tag, and a generic \
             impl has no single type to register; register each concrete type instead",
        ));
    }
    let ty = &imp.self_ty;
    Ok(quote! {
        #imp
        ::vow::__private::inventory::submit! {
            ::vow::__private::Registration {
                tag: #name,
                type_name: stringify!(#ty),
                krate: env!("CARGO_CRATE_NAME"),
            }
        }
        const _: () = {
            use ::vow::__private::typetag;
            #[typetag::serde(name = #name)]
            impl ::vow::__private::ErasedTask for #ty {
                fn run_erased(
                    self: ::std::boxed::Box<Self>,
                    input: ::vow::__private::TaskInput,
                    cx: ::std::sync::Arc<::vow::Cx>,
                ) -> ::vow::__private::BoxFuture<
                    ::std::result::Result<::vow::__private::Erased, ::vow::Error>,
                > {
                    ::vow::__private::run_typed(*self, input, cx)
                }
                fn opts(&self) -> ::vow::__private::RunOpts {
                    ::vow::__private::opts_of(self)
                }
            }
        };
    })
}

/// Turn a closure into a registered, serializable task.
///
/// ```ignore
/// let factor = 3u64;
/// let scale = vow::closure!("scale", [factor: u64], |x: Result<u64, Failure>| -> Result<u64, Error> {
///     Ok(x? * factor)
/// });
/// ```
///
/// The captures in brackets become the task's fields and travel in the message:
/// `name: Type` captures the variable `name`, `name: Type = expr` captures a value.
/// The closure takes the input (`()` for `when`, `Result<T, Failure>` for `then`)
/// and optionally the task's `&Cx`, and returns `Result<T, vow::Error>`.
///
/// Options between the captures and the closure set what a struct task sets with
/// `Task::timeout` and `Task::max_attempts`; like captures, their values are
/// evaluated where the closure is created:
///
/// ```ignore
/// let slow = vow::closure!("slow", [], timeout = Duration::from_secs(5), attempts = 1,
///     |_: ()| -> Result<u64, Error> { Ok(1) });
/// ```
#[proc_macro]
pub fn closure(input: TokenStream) -> TokenStream {
    let spec = parse_macro_input!(input as ClosureSpec);
    match spec.expand() {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

struct Capture {
    name: Ident,
    ty: Type,
    value: Option<Expr>,
}

impl Parse for Capture {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name = input.parse()?;
        input.parse::<Token![:]>()?;
        let ty = input.parse()?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        Ok(Capture { name, ty, value })
    }
}

struct ClosureSpec {
    name: LitStr,
    captures: Vec<Capture>,
    timeout: Option<Expr>,
    attempts: Option<Expr>,
    closure: ExprClosure,
}

impl Parse for ClosureSpec {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name = input.parse()?;
        input.parse::<Token![,]>()?;
        let inner;
        bracketed!(inner in input);
        let captures = Punctuated::<Capture, Token![,]>::parse_terminated(&inner)?
            .into_iter()
            .collect();
        input.parse::<Token![,]>()?;
        let (mut timeout, mut attempts) = (None, None);
        while input.peek(Ident) && input.peek2(Token![=]) {
            let option: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let value: Expr = input.parse()?;
            input.parse::<Token![,]>()?;
            let slot = match option.to_string().as_str() {
                "timeout" => &mut timeout,
                "attempts" => &mut attempts,
                _ => {
                    return Err(syn::Error::new(
                        option.span(),
                        "unknown option: a vow closure takes `timeout = <Duration>` and \
                         `attempts = <u32>`",
                    ))
                }
            };
            if slot.replace(value).is_some() {
                return Err(syn::Error::new(option.span(), "option given twice"));
            }
        }
        let closure = input.parse()?;
        let _ = input.parse::<Option<Token![,]>>()?;
        Ok(ClosureSpec {
            name,
            captures,
            timeout,
            attempts,
            closure,
        })
    }
}

impl ClosureSpec {
    fn expand(self) -> syn::Result<Tokens> {
        let c = &self.closure;
        let inputs: Vec<&Pat> = c.inputs.iter().collect();
        let (input_pat, input_ty) = match inputs.first() {
            Some(Pat::Type(t)) => (&t.pat, &t.ty),
            _ => {
                return Err(syn::Error::new(
                    c.span(),
                    "the closure's first parameter needs a type: `|x: Result<u64, Failure>|` \
                     (or `|_: ()|` for a task started with `when`)",
                ))
            }
        };
        let cx_pat = match inputs.get(1) {
            Some(Pat::Type(t)) => t.pat.clone(),
            Some(pat) => Box::new((*pat).clone()),
            None => Box::new(syn::parse_quote!(_)),
        };
        if inputs.len() > 2 {
            return Err(syn::Error::new(
                c.inputs.span(),
                "a vow closure takes its input and optionally `cx`",
            ));
        }
        let output = output_type(&c.output)?;
        let body = match c.body.as_ref() {
            Expr::Block(block) => quote!(#block),
            other => quote!({ #other }),
        };
        let name = &self.name;
        let fields = self.captures.iter().map(|k| &k.name);
        let fields2 = fields.clone();
        let types = self.captures.iter().map(|k| &k.ty);
        let inits = self.captures.iter().map(|k| {
            let n = &k.name;
            match &k.value {
                Some(v) => quote!(#n: #v),
                None => quote!(#n),
            }
        });
        // Options travel as two more fields, set only when given, so that
        // `Task::timeout` and `Task::max_attempts` can answer from `self`.
        let (option_fields, option_inits, option_fns) = self.options();
        let span = c.span();
        Ok(quote_spanned! {span=>
            {
                #[derive(::vow::__private::serde::Serialize, ::vow::__private::serde::Deserialize)]
                #[serde(crate = "::vow::__private::serde")]
                #[allow(non_camel_case_types)]
                struct __VowClosure { #(#fields: #types,)* #option_fields }

                #[::vow::task(#name)]
                impl ::vow::Task for __VowClosure {
                    type Input = #input_ty;
                    type Output = #output;
                    async fn run(
                        self,
                        #input_pat: #input_ty,
                        #cx_pat: &::vow::Cx,
                    ) -> ::std::result::Result<::vow::Resolution<#output>, ::vow::Error> {
                        #[allow(unused_variables)]
                        let __VowClosure { #(#fields2,)* .. } = self;
                        let result: ::std::result::Result<#output, ::vow::Error> =
                            async move #body.await;
                        result.map(::vow::Resolution::Value)
                    }
                    #option_fns
                }

                __VowClosure { #(#inits,)* #option_inits }
            }
        })
    }

    /// The hidden fields, their initialisers and the `Task` methods of the
    /// `timeout` and `attempts` options.
    fn options(&self) -> (Tokens, Tokens, Tokens) {
        let (mut fields, mut inits, mut fns) = (Tokens::new(), Tokens::new(), Tokens::new());
        if let Some(timeout) = &self.timeout {
            fields.extend(quote! {
                __vow_timeout: ::std::time::Duration,
            });
            let span = timeout.span();
            inits.extend(quote_spanned! {span=> __vow_timeout: #timeout, });
            fns.extend(quote! {
                fn timeout(&self) -> ::std::option::Option<::std::time::Duration> {
                    ::std::option::Option::Some(self.__vow_timeout)
                }
            });
        }
        if let Some(attempts) = &self.attempts {
            fields.extend(quote! {
                __vow_attempts: u32,
            });
            let span = attempts.span();
            inits.extend(quote_spanned! {span=> __vow_attempts: #attempts, });
            fns.extend(quote! {
                fn max_attempts(&self) -> ::std::option::Option<u32> {
                    ::std::option::Option::Some(self.__vow_attempts)
                }
            });
        }
        (fields, inits, fns)
    }
}

/// `T` from a declared `-> Result<T, E>`.
fn output_type(output: &ReturnType) -> syn::Result<Type> {
    let err = |span| {
        syn::Error::new(
            span,
            "declare the closure's return type as `-> Result<T, vow::Error>`",
        )
    };
    let ReturnType::Type(_, ty) = output else {
        return Err(err(Span::call_site()));
    };
    let Type::Path(path) = ty.as_ref() else {
        return Err(err(ty.span()));
    };
    let last = path.path.segments.last().ok_or_else(|| err(ty.span()))?;
    if last.ident != "Result" {
        return Err(err(ty.span()));
    }
    match &last.arguments {
        PathArguments::AngleBracketed(args) => match args.args.first() {
            Some(GenericArgument::Type(t)) => Ok(t.clone()),
            _ => Err(err(ty.span())),
        },
        _ => Err(err(ty.span())),
    }
}

fn error(span: Span, message: &str) -> TokenStream {
    syn::Error::new(span, message).to_compile_error().into()
}
